"""Data transforms the plot kinds draw from: crossfilter masks, aggregates, smoothing."""
