"""The voice customer-service plugin: speech or text in, intent, answer from the store's data, speech out, hand-off."""
