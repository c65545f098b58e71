"""The core: samples normalized into batches, per-stream tables, the hub that holds them and the
write-behind journal. No Panel, HoloViews, Bokeh, Tornado or pandas here."""
