"""The HTTP/websocket wire contract shared by the client and the server: limits and the codec."""
