export default function App() {
  return (
    <main className="flex min-h-screen items-center justify-center bg-slate-50 text-slate-900">
      <div className="text-center">
        <h1 className="text-3xl font-semibold tracking-tight">Your app will appear here</h1>
        <p className="mt-2 text-slate-500">Describe what you want to build in the chat.</p>
      </div>
    </main>
  )
}
