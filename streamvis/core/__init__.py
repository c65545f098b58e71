"""The core: samples normalized into batches, per-stream tables, the hub that holds them, the
write-behind journal and the store's interface (the changes, the `Backend` protocol, `Store`).
No Panel, HoloViews, Bokeh, Tornado or pandas here, and no store backend."""
