"""The one exception type of the bundle lifecycle: a machine code, a message and an HTTP status."""

from ..errors import ApiError


class BundleError(ApiError):
    """A bundle operation failed; nothing active was changed."""

    status, code = 422, "bundle_invalid"

    def __init__(self, message: str, code: str = "bundle_invalid", status: int = 422):
        super().__init__(message, code=code, status=status)
