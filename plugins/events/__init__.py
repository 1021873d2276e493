"""The events plugin: kiosk and mobile apps record events; they sync edge → hub, append-only."""
