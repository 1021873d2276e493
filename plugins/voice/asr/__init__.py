"""Speech to text engines behind one interface (:class:`plugins.voice.asr.base.Engine`)."""
