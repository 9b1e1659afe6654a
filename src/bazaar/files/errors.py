"""File errors (stable codes, part of the API)."""

from __future__ import annotations

from bazaar.kit.errors import AppError, Conflict, NotFound


class FileNotFound(NotFound):
    code = "FILE_NOT_FOUND"
    message = "File not found"


class FileTooLarge(AppError):
    status_code = 413
    code = "FILE_TOO_LARGE"
    message = "The file is larger than this purpose allows"


class FileTypeNotAllowed(AppError):
    status_code = 415
    code = "FILE_TYPE_NOT_ALLOWED"
    message = "This kind of file is not accepted for this purpose"


class InvalidImage(AppError):
    status_code = 415
    code = "INVALID_IMAGE"
    message = "The file claims to be an image but its header does not decode"


class BadUpload(AppError):
    status_code = 400
    code = "BAD_UPLOAD"
    message = "Send one file as multipart/form-data in a part named `file`"


class FileInUse(Conflict):
    code = "FILE_IN_USE"
    message = "The file is attached to something and cannot be deleted"


class FileRefInvalid(AppError):
    status_code = 400
    code = "FILE_REF_INVALID"
    message = "A file reference is not a file you uploaded for this purpose"


class RangeNotSatisfiable(AppError):
    status_code = 416
    code = "RANGE_NOT_SATISFIABLE"
    message = "The requested range is outside the file"
