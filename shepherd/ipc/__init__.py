"""JSON-RPC framing, the server, the client, roles from peer credentials.

Owns the wire protocol of SPEC §6. Must not make decisions: it hands requests
to the daemon and carries answers and events back.
"""
