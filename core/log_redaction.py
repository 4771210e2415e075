"""Keeps bank account numbers out of the logs (settings.LOGGING puts this filter on every handler).

Anything shaped like an IBAN is replaced, whether it came in the message, in an argument, or in the
text of an exception: a log line is read by more people, and kept longer, than the database row.
"""

import logging
import re

# Country code, two check digits, then 11 to 30 letters or digits (IBANs are 15 to 34 long), optionally
# in the groups of four people write them in. The word boundaries keep it from firing inside longer
# tokens such as hex digests; case-insensitive because people type IBANs in lower case too.
IBAN_SHAPE = re.compile(r"\b[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]){11,30}\b", re.IGNORECASE)
IBAN_REPLACEMENT = "[IBAN redacted]"


def iban_redact(text: str) -> str:
    return IBAN_SHAPE.sub(IBAN_REPLACEMENT, text)


class IbanRedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = iban_redact(message)
        if redacted != message:
            # The arguments are already merged into the message; keeping them would let a handler with
            # another format (or a structured one) print them again.
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = iban_redact(record.exc_text)
        if record.stack_info:
            record.stack_info = iban_redact(record.stack_info)
        return True
