/*
** err.c: filling in ms_err records.
*/
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int ms_err_set(ms_err *err, int code, const char *fmt, ...) {
  va_list ap;
  if (err == NULL) return code;
  err->code = code;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return code;
}

int ms_err_prefix(ms_err *err, const char *fmt, ...) {
  char old[MS_ERR_MSG];
  size_t n;
  va_list ap;
  if (err == NULL) return MS_OK;
  memcpy(old, err->msg, sizeof old);
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  n = strlen(err->msg);
  if (n + 2 < sizeof err->msg) {
    memcpy(err->msg + n, ": ", 2);
    n += 2;
    n += strlen(strncpy(err->msg + n, old, sizeof err->msg - n - 1));
    err->msg[sizeof err->msg - 1] = '\0';
  }
  return err->code;
}

const char *ms_err_type(int code) {
  switch (code) {
    case MS_ENOMEM: return "MemoryError";
    case MS_EIO: return "IOError";
    case MS_EPARSE: return "ParseError";
    case MS_ESCHEMA: return "SchemaError";
    case MS_EINPUT: return "InputError";
    case MS_EEXISTS: return "ObjectAlreadyExists";
    case MS_ENOTFOUND: return "ObjectNotFound";
    case MS_EVALUE: return "ValueError";
    case MS_ETYPE: return "ObjectStoreWrongType";
    case MS_ECALLBACK: return "CallbackError";
    case MS_ECRUD: return "ObjectCrudException";
    case MS_EHANDLER: return "HandlerError";
    case MS_EINTR: return "Interrupted";
    case MS_EPERM: return "PermissionError";
    case MS_EVALIDATION: return "ValidationError";
    default: return "Error";
  }
}
