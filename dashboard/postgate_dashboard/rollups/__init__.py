"""The dashboard's data layer: roll-ups of the events, kept as they are recorded, and the
queries the views read them with (``queries``)."""
