//! A DNS server on loopback answering TXT queries from records the test publishes, as a domain's
//! owner would at their DNS provider; any other name is NXDOMAIN. Nothing is cached (TTL 0), so a
//! record published or withdrawn is seen by the next query.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{RData, Record, RecordType};

type Records = Arc<Mutex<HashMap<String, Vec<String>>>>;

pub struct FakeDns {
    pub addr: SocketAddr,
    records: Records,
    stop: Arc<AtomicBool>,
}

impl FakeDns {
    pub fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        // Woken now and then to notice it is dropped.
        socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let addr = socket.local_addr().unwrap();
        let (records, stop) = (Records::default(), Arc::new(AtomicBool::new(false)));
        let (table, stopped) = (records.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stopped.load(Ordering::SeqCst) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else { continue };
                let Ok(query) = Message::from_vec(&buf[..n]) else { continue };
                let answer = answer(&query, &table.lock().unwrap());
                // Larger than the asker takes: truncated, as a real server answers.
                let bytes = match answer.to_vec() {
                    Ok(bytes) if bytes.len() > usize::from(query.max_payload()) => answer.truncate().to_vec(),
                    other => other,
                };
                if let Ok(bytes) = bytes {
                    let _ = socket.send_to(&bytes, from);
                }
            }
        });
        Self { addr, records, stop }
    }

    /// Publishes `value` as one more TXT record of `name`.
    pub fn add_txt(&self, name: &str, value: &str) {
        self.records.lock().unwrap().entry(key(name)).or_default().push(value.to_string());
    }

    /// Withdraws every record of `name`.
    pub fn clear(&self, name: &str) {
        self.records.lock().unwrap().remove(&key(name));
    }

    /// The host's setting that makes it ask this server.
    pub fn host_env(&self) -> (&'static str, String) {
        ("BLINK_DNS_RESOLVER", self.addr.to_string())
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn answer(query: &Message, records: &HashMap<String, Vec<String>>) -> Message {
    let mut answer = Message::new();
    answer
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(query.op_code())
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .set_authoritative(true)
        .add_queries(query.queries().to_vec());
    for question in query.queries() {
        let found = records.get(&key(&question.name().to_ascii()));
        if question.query_type() == RecordType::TXT {
            for value in found.into_iter().flatten() {
                let record = RData::TXT(TXT::new(vec![value.clone()]));
                answer.add_answer(Record::from_rdata(question.name().clone(), 0, record));
            }
        }
        if found.is_none() {
            answer.set_response_code(ResponseCode::NXDomain);
        }
    }
    answer
}
