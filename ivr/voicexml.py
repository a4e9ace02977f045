"""Africa's Talking voice XML, built with `xml.etree` (never by string concatenation).

```xml
<Response>
  <Play url="https://.../audio/3f...e1.mp3"/>                       <!-- a notice, the tip -->
  <GetDigits timeout="10" finishOnKey="#" numDigits="1" callbackUrl="https://.../ivr/...">
    <Play url="https://.../audio/9a...04.mp3"/>                     <!-- the prompt -->
  </GetDigits>
  <Redirect>https://.../ivr/...</Redirect>                          <!-- no key: ask again -->
</Response>
```

A clip with no cached audio is read by the provider's voice (`<Say>`). A rejected call is
`<Response><Reject/></Response>`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from audio_cache import AudioLibrary
from ivr.engine import Clip, IvrReply

__all__ = ["VoiceXml"]


class VoiceXml:
    """Turns replies into XML, with the cache's URLs and the callback URL."""

    def __init__(self, *, audio: AudioLibrary, callback_url: str, timeout: int) -> None:
        self._audio = audio
        self._callback_url = callback_url
        self._timeout = timeout

    def _clip(self, parent: ET.Element, clip: Clip) -> None:
        found = clip.cached_in(self._audio)
        if found is None:
            ET.SubElement(parent, "Say").text = clip.text
        else:
            ET.SubElement(parent, "Play", url=self._audio.url(found[0]))

    def render(self, reply: IvrReply) -> bytes:
        """The XML document answering one notification."""
        root = ET.Element("Response")
        if reply.reject:
            ET.SubElement(root, "Reject")
        for clip in reply.plays:
            self._clip(root, clip)
        if reply.ask is not None:
            digits = ET.SubElement(
                root,
                "GetDigits",
                timeout=str(self._timeout),
                finishOnKey="#",
                numDigits="1",
                callbackUrl=self._callback_url,
            )
            self._clip(digits, reply.ask)
            ET.SubElement(root, "Redirect").text = self._callback_url
        document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        return document
