"""Giọng xã: the commune announcer's own voice, assembled from recorded syllables.

Vietnamese is written in syllables, and a few thousand distinct syllables cover nearly all
announcements. The announcer reads *sheets* of syllables once; Loa cuts each take by silence
and keeps one recording per syllable in a *bank*; the ``giong-xa`` engine
(:mod:`audio.engines.giong_xa`) joins them to read any typed announcement offline.

The parts, each importable alone (this package imports nothing heavy):

- :mod:`audio.voicebank.syllables`: normalized text → spoken syllables and phrases.
- :mod:`audio.voicebank.corpus`: Loa's corpus of commune announcements and the commune's own
  past announcements (a text file or the controller's database).
- :mod:`audio.voicebank.coverage`: syllable frequencies, how many syllables cover 90/95/99 % of
  running text, and how much of a commune's text a bank can read.
- :mod:`audio.voicebank.sheets`: sheets of 10–20 syllables ordered by coverage gain.
- :mod:`audio.voicebank.takes`: cutting a take by silence, counting, trimming, level, clipping
  and noise checks.
- :mod:`audio.voicebank.bank`: bank storage (manifest with consent, one file per syllable),
  deletion with everything made from it.
- :mod:`audio.voicebank.archive`: export and import of a bank as one versioned file.

Every refusal is an :class:`audio.errors.AudioError` with a stable code and a Vietnamese message
from :mod:`audio.voicebank.messages`.
"""
