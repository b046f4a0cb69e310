"""The WebSocket door (docs/realtime.md): delivery order per socket and conversation."""
