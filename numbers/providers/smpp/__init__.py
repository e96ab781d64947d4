"""The SMPP 3.4 carrier (ESME side): codec (PDUs through smpplib, bodies, receipts), session (one
bind on asyncio), provider (the adapter interface), binds (the process that holds the binds)."""
