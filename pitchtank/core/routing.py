"""URL converters: an id in a URL that cannot fit the database's id columns is a 404."""

from __future__ import annotations

from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

# Ids are 32-bit INTEGER columns on PostgreSQL; SQLite takes 64 bits. A larger number in a URL
# or a body can name nothing, and sending it to the database raises instead of finding nothing.
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """``<int:…>`` whose value above MAX_ID answers 404 rather than reaching the database.

    Not a routing ``ValidationError``: Werkzeug would then answer 405 when another method
    shares the path, which is not what such a request deserves.
    """

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > MAX_ID:
            raise NotFound()
        return number
