/*
** err.h: error codes and the error record every core call fills in.
** Core modules never print, exit or call Lua; they return a negative
** MS_E* code and describe the failure in a caller-provided ms_err.
*/
#ifndef MS_ERR_H
#define MS_ERR_H

#include <stddef.h>

enum {
  MS_OK = 0,
  MS_ENOMEM = -1,        /* out of memory */
  MS_EIO = -2,           /* file could not be read or written */
  MS_EPARSE = -3,        /* malformed JSON */
  MS_ESCHEMA = -4,       /* bad schema or model declaration */
  MS_EINPUT = -5,        /* a record does not fit its model */
  MS_EEXISTS = -6,       /* ObjectAlreadyExists */
  MS_ENOTFOUND = -7,     /* ObjectNotFound */
  MS_EVALUE = -8,        /* ValueError: keys or shortname mismatch */
  MS_ETYPE = -9,         /* ObjectStoreWrongType: wrong child or model type */
  MS_ECALLBACK = -10,    /* a callback asked to stop */
  MS_ECRUD = -11,        /* ObjectCrudException from create/update/delete */
  MS_EHANDLER = -12,     /* a handler failed otherwise (error kept by caller) */
  MS_EINTR = -13,        /* interrupted (SIGINT/SIGTERM) */
  MS_EPERM = -14,        /* refused by the job's permissions */
  MS_EVALIDATION = -15   /* ValidationError: a required field is missing */
};

#define MS_ERR_MSG 1024

typedef struct ms_err {
  int code;
  char msg[MS_ERR_MSG];
} ms_err;

/* Sets err (if not NULL) to code and a printf-style message; returns code. */
int ms_err_set(ms_err *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 3, 4)))
#endif
  ;

/* Prepends "prefix: " to the message already in err; returns err->code. */
int ms_err_prefix(ms_err *err, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 2, 3)))
#endif
  ;

/* The DiffSync exception class name for a code ("ObjectAlreadyExists"...). */
const char *ms_err_type(int code);

#endif
