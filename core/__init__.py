"""The ground floor every app may use (docs/realtime.md, "Inside the server"; DESIGN.md):
the one exception tree, ids and time helpers, metrics, rate limits, request ids,
compiled queries, batched background jobs, secrets at rest. It imports no app."""
