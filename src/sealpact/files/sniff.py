"""Content sniffing: an upload must be what its Content-Type says, judged by its first bytes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sealpact.errors import SealpactError

# Declared type -> accepted leading magic bytes. ZIP covers DOCX/ODT; OLE2 covers legacy DOC.
ALLOWED_TYPES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (b"PK\x03\x04",),
    "application/vnd.oasis.opendocument.text": (b"PK\x03\x04",),
    "application/msword": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}
_PREFIX_LEN = max(len(m) for magics in ALLOWED_TYPES.values() for m in magics)


class UnsupportedContent(SealpactError):
    code = "unsupported_media_type"
    http_status = 415


def normalise_type(content_type: str | None) -> str:
    """The media type without parameters, lower-cased; refused unless it is one we accept."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in ALLOWED_TYPES:
        accepted = ", ".join(sorted(ALLOWED_TYPES))
        raise UnsupportedContent(f"Unsupported file type {media_type or '(none)'!r}; accepted: {accepted}.")
    return media_type


def checked(chunks: Iterable[bytes], media_type: str) -> Iterator[bytes]:
    """Pass ``chunks`` through, raising as soon as the leading bytes contradict ``media_type``.

    Nothing is buffered beyond the first few bytes, so large uploads still stream.
    """
    magics = ALLOWED_TYPES[media_type]
    head = b""
    decided = False
    for chunk in chunks:
        if not decided:
            head += chunk
            if len(head) < _PREFIX_LEN and not any(head.startswith(m) for m in magics):
                continue  # not enough bytes yet to judge
            if not any(head.startswith(m) for m in magics):
                raise UnsupportedContent(f"The content is not {media_type}.")
            decided = True
            chunk, head = head, b""
        yield chunk
    if not decided:
        raise UnsupportedContent(f"The content is not {media_type}.")
