"""Keep uploaded files in memory, never in a plaintext temporary file.

Django's default handlers spool an upload over 2.5 MB to a temporary file on
disk, unencrypted; the only uploads here are Direct Contact files (personal data),
which are encrypted before they are stored. This handler keeps every upload in
memory up to ``FILE_UPLOAD_MAX_MEMORY_SIZE`` (set from the contact page's limits)
and refuses a larger body with a 400 instead of dropping its files silently, as
Django's memory handler does when it is alone.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import MemoryFileUploadHandler


class BoundedMemoryFileUploadHandler(MemoryFileUploadHandler):
    """In memory only; a body over ``FILE_UPLOAD_MAX_MEMORY_SIZE`` is a 400."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        super().handle_raw_input(input_data, META, content_length, boundary, encoding)
        if not self.activated:
            raise RequestDataTooBig(
                f"The upload is larger than {settings.FILE_UPLOAD_MAX_MEMORY_SIZE} bytes."
            )
