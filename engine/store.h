/*
** store.h: models, records and the record store. A store holds the records
** of one adapter: per model an insertion-ordered list, and one hash index
** by (model, unique id). Records, their values and child uid lists live in
** the store's arena and are never moved, so pointers to them stay valid
** until ms_store_free; a removed record is only unlinked. Field arrays are
** copy-on-write, so a diff can keep a record's attribute snapshot by
** pointer.
*/
#ifndef MS_STORE_H
#define MS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "err.h"
#include "value.h"

/* DiffSyncFlags (global) */
enum {
  MS_GF_CONTINUE_ON_FAILURE = 1,
  MS_GF_SKIP_UNMATCHED_SRC = 2,
  MS_GF_SKIP_UNMATCHED_DST = 4,
  MS_GF_SKIP_UNMATCHED_BOTH = 6,
  MS_GF_LOG_UNCHANGED_RECORDS = 8
};

/* Every global flag bit */
#define MS_GF_ALL 15u

/* DiffSyncModelFlags */
enum {
  MS_MF_IGNORE = 1,
  MS_MF_SKIP_CHILDREN_ON_DELETE = 2,
  MS_MF_SKIP_UNMATCHED_SRC = 4,
  MS_MF_SKIP_UNMATCHED_DST = 8,
  MS_MF_SKIP_UNMATCHED_BOTH = 12,
  MS_MF_NATURAL_DELETION_ORDER = 16
};

/* Every model flag bit */
#define MS_MF_ALL 31u

/* Record status, DiffSyncStatus */
enum { MS_ST_UNKNOWN = 0, MS_ST_SUCCESS, MS_ST_FAILURE, MS_ST_ERROR };

/* Parses a flag name (case-insensitive, e.g. "SKIP_UNMATCHED_DST");
   model != 0 selects model flags. Returns 0 and ORs the bit into *flags,
   or -1 for an unknown name. */
int ms_flag_parse(const char *name, int model, uint32_t *flags);

typedef struct ms_child_decl {
  char *model;   /* child model name */
  char *field;   /* field holding the child uids */
} ms_child_decl;

typedef struct ms_model {
  int refs;
  char *name;
  uint32_t nids, nattrs, nextras, nfields;  /* nfields = sum of the three */
  char **fields;        /* identifiers, attributes, extra fields */
  uint32_t nshort;
  uint32_t *shortname;  /* field indices; nshort == 0: shortname is uid */
  uint32_t nchildren;
  ms_child_decl *children;
  uint32_t flags;       /* class-level model flags */
} ms_model;

typedef struct ms_model_spec {
  const char *name;
  const char **ids, **attrs, **extras, **shortname;
  uint32_t nids, nattrs, nextras, nshort, nchildren;
  const ms_child_decl *children;
  uint32_t flags;
} ms_model_spec;

/* Builds and checks a model (DiffSync's declaration checks: unique field
   names, identifiers, attributes and children disjoint, shortname naming
   fields). Returns NULL with err set. Caller owns one reference. */
ms_model *ms_model_new(const ms_model_spec *spec, ms_err *err);
void ms_model_ref(ms_model *m);
void ms_model_unref(ms_model *m);

/* Field index by name, or -1. */
int ms_model_field(const ms_model *m, const char *name, size_t n);
/* Child declaration index by child model name, or -1. */
int ms_model_child(const ms_model *m, const char *model);

typedef struct ms_strref {
  const char *s;
  uint32_t len;
} ms_strref;

typedef struct ms_record ms_record;

/* A child uid, with the record it named when it was added (a shortcut
   for lookups: valid while that record is stored under that uid). */
typedef struct ms_childref {
  const char *s;
  uint32_t len;
  uint32_t hash;          /* ms_uid_hash(s, len): a list is searched by it */
  ms_record *rec;
} ms_childref;

/* A uid's hash, as child lists keep it. The index hash of a uid of model
   midx (ms_store_keyhash) is the same hash mixed with the model, so one
   gives the other (ms_keyhash_uid). */
uint32_t ms_uid_hash(const char *uid, size_t n);
static inline uint64_t ms_model_mix(int midx) {
  return (uint64_t)midx * 0x9e3779b97f4a7c15ULL + 1;
}
static inline uint32_t ms_keyhash_uid(uint64_t h, int midx) {
  return (uint32_t)(h ^ ms_model_mix(midx));
}

typedef struct ms_uidlist {
  ms_childref *items;
  uint32_t n, cap;
} ms_uidlist;

typedef struct ms_store ms_store;

/* Values by record (open addressing on the record's address): for what
   few records have, kept beside them. Zero-initialized; ms_recmap_free. */
typedef struct ms_recmap {
  struct ms_recslot *slots;
  size_t cap, n;
} ms_recmap;

/* Sets r's value (not NULL); MS_ENOMEM when the map cannot grow. */
int ms_recmap_put(ms_recmap *m, const ms_record *r, const void *v);
/* r's value, or NULL. */
const void *ms_recmap_get(const ms_recmap *m, const ms_record *r);
void ms_recmap_free(ms_recmap *m);

/* A record's status message by number: "" and DiffSync's own messages,
   shared by every record; any other is kept by the record's store. */
enum { MS_MSG_NONE, MS_MSG_CREATED, MS_MSG_UPDATED, MS_MSG_DELETED, MS_MSG_OWN };
extern const char *const ms_status_msgs[MS_MSG_OWN];

struct ms_record {
  ms_model *model;
  ms_value *fields;       /* model->nfields values, copy-on-write */
  ms_uidlist *children;   /* model->nchildren lists */
  const char *uid;
  uint32_t uid_len;
  uint32_t mark;          /* scratch for the differ */
  uint16_t flags;         /* instance model flags (MS_MF_*) */
  uint8_t status;         /* MS_ST_* */
  uint8_t msg;            /* MS_MSG_*: its status message */
  uint8_t stored;         /* 1 while in the store's index */
  uint16_t midx;          /* model index in the store */
  ms_store *store;
};

typedef struct ms_recvec {
  ms_record **items;      /* insertion order; removed records stay, unlinked */
  size_t n, cap, live;
  uint8_t touched;        /* the model was looked up, listed, counted, added
                             or removed (DiffSync's store bucket exists) */
} ms_recvec;

typedef struct ms_refslot {
  uint64_t hash;
  void *cell;             /* (record, id, model) cell in the store's arena */
} ms_refslot;

typedef struct ms_slot {
  uint64_t hash;
  ms_record *rec;
} ms_slot;

struct ms_store {
  int owners;             /* see ms_store_ref; freed at zero */
  char *name;             /* adapter name (diff output) */
  char *type;             /* adapter type (str()) */
  ms_arena arena;
  uint32_t nmodels;
  ms_model **models;
  ms_recvec *bymodel;
  ms_slot *slots;
  size_t nslots, count;   /* index capacity (power of 2) and live records */
  uint32_t ntop;
  char **top_level;
  uint32_t epoch;         /* last mark used by a diff against this store */
  uint64_t gen;           /* counts inserts and removals */
  /* A sync that skipped the unchanged subtrees of its diff leaves their
     status reset to the reads: a record with an odd mark in (lo, hi], the
     marks of the records that diff paired, reads as UNKNOWN (see
     ms_record_status; ms_store_settle writes it). 0, 0: none. */
  uint32_t lazy_lo, lazy_hi;
  struct ms_refslot *refs;  /* source-id index of mapped records (lazy) */
  size_t nrefs, caprefs;
  struct ms_islot *islots;  /* strings kept once (ms_store_keep; lazy) */
  size_t nislots, icount;
  ms_recmap msgs;           /* status messages of MS_MSG_OWN */
};

/* New empty store with one owner; NULL when out of memory. Release with
   ms_store_free. */
ms_store *ms_store_new(const char *name, const char *type);
/* The same with a small initial index, for stores of one record. */
ms_store *ms_store_new_small(const char *name, const char *type);
/* Adds an owner: whoever keeps pointers into the store (a record handle,
   a diff) holds a reference, so the store outlives them. */
void ms_store_ref(ms_store *s);
/* Drops an owner; the last one frees the store. */
void ms_store_free(ms_store *s);

/* Registers a model (takes a reference). Returns its index, or a negative
   code: MS_ESCHEMA when a model of that name is already registered. */
int ms_store_add_model(ms_store *s, ms_model *m, ms_err *err);
/* Model index by name, or -1. */
int ms_store_model(const ms_store *s, const char *name);
/* Sets the top-level model names; each must be registered. */
int ms_store_set_top_level(ms_store *s, const char **names, uint32_t n,
                           ms_err *err);

/* A new record of model midx with nil fields and empty child lists, owned
   by the store but not yet in it (see ms_store_insert). NULL on OOM. */
ms_record *ms_store_new_record(ms_store *s, int midx);

/* Computes the record's uid from its identifiers and inserts it.
   MS_EEXISTS "Object {uid} already present" when another record holds
   that uid; inserting the stored record again is a no-op. */
int ms_store_insert(ms_store *s, ms_record *r, ms_err *err);

/* The index hash of a uid of model midx, and the same insert as
   ms_store_insert for a record whose uid is set and hashes to h: a bulk
   loader hashes a record early and prefetches its slot. */
uint64_t ms_store_keyhash(int midx, const char *uid, size_t n);
int ms_store_insert_hashed(ms_store *s, ms_record *r, uint64_t h, ms_err *err);
static inline void ms_store_prefetch(const ms_store *s, uint64_t h) {
  __builtin_prefetch(&s->slots[h & (s->nslots - 1)], 0);
}

/* As DiffSync: an identifier is a required field, so a record without
   one is a ValidationError, which every loader (documents, mappings, the
   Lua API) raises with this: MS_EVALIDATION "MODEL: identifier 'F' is
   missing ...". A null identifier is a value, str() None in the uid. */
int ms_err_missing_id(ms_err *err, const ms_model *m, uint32_t i);

/* For two records of one model whose uids are the same: appends, for
   each identifier whose values differ (null and "None", 10 and "10"),
   "; identifier 'F' is None in the first and 'None' in the second...". */
void ms_ids_contrast(ms_buf *b, const ms_record *first, const ms_record *second);

/* Records stored but not reachable from the top-level models through
   child lists: what a nested document would leave out. Returns how many;
   the first `max` are named ("model 'uid'", comma-separated) in names. */
size_t ms_store_orphans(ms_store *s, ms_buf *names, size_t max);

/* (Re)computes the uid of a record not yet stored from its identifiers
   (a stored record's uid is fixed). MS_OK or MS_ENOMEM. */
int ms_record_uid(ms_record *r);
/* The same, building the uid in scratch (emptied first) rather than in
   a buffer of its own: for callers that make many. */
int ms_record_uid_in(ms_record *r, ms_buf *scratch);

/* Looks up a record by model index and uid; NULL when absent. A lookup
   DiffSync's store would make (get, get_by_uids) marks the model as used
   (ms_store_touch); the engine's own lookups use ms_store_find. */
ms_record *ms_store_get(const ms_store *s, int midx, const char *uid,
                        size_t n);
ms_record *ms_store_find(const ms_store *s, int midx, const char *uid,
                         size_t n);

/* The record a child uid names in store s (model midx), or NULL: its
   shortcut when still valid, else an index lookup (ms_store_find). */
static inline ms_record *ms_store_child(const ms_store *s, int midx,
                                        const ms_childref *ref) {
  ms_record *r = ref->rec;
  if (r != NULL && r->stored && r->store == s && r->midx == midx &&
      r->uid == ref->s)
    return r;
  return midx < 0 ? NULL : ms_store_find(s, midx, ref->s, ref->len);
}

/* Unlinks a stored record (DiffSync's remove). With remove_children, child
   records are removed recursively; a missing child is skipped. */
int ms_store_remove(ms_store *s, ms_record *r, int remove_children,
                    ms_err *err);

/* How often the strings of one source (a field, a column) repeat: bulk
   loaders keep a string once when its kind repeats, and stop looking
   when it does not. Zero-initialized. */
typedef struct ms_internstat {
  uint32_t seen, hits;
  uint8_t off;
} ms_internstat;

/* A copy of p[0..n) in the store's arena, NUL-terminated; a short string
   whose source repeats (stat, or NULL) is shared with an equal string
   kept before. NULL when out of memory. */
const char *ms_store_keep(ms_store *s, ms_internstat *stat, const char *p,
                          size_t n);

/* Sizes the index for n records in all, and each model's list for
   per_model[m] records (n each when NULL), so that loading them regrows
   neither. A large list takes memory only where it is used. */
int ms_store_reserve(ms_store *s, size_t n, const size_t *per_model);
/* Sizes the index alone for n records in all. */
int ms_store_reserve_index(ms_store *s, size_t n);

/* Is r's status reset by a sync that skipped it (lazy_lo)? */
static inline int ms_record_reset(const ms_record *r) {
  const ms_store *s = r->store;
  return s->lazy_hi && (r->mark & 1) && r->mark > s->lazy_lo &&
         r->mark <= s->lazy_hi;
}

/* The MS_MSG_OWN message of r, which its store keeps. */
const char *ms_record_own_msg(const ms_record *r);

/* A record's status and message, with a pending reset applied. */
static inline int ms_record_status(const ms_record *r, const char **msg) {
  if (ms_record_reset(r)) {
    *msg = "";
    return MS_ST_UNKNOWN;
  }
  *msg = r->msg < MS_MSG_OWN ? ms_status_msgs[r->msg] : ms_record_own_msg(r);
  return r->status;
}

/* Writes a pending status reset into the records (before anything stamps
   marks again: a diff against s, ms_store_orphans). */
void ms_store_settle(ms_store *s);

/* Number of stored records of model midx, or of all models (midx < 0). */
size_t ms_store_count(const ms_store *s, int midx);
/* Marks model midx as used, as DiffSync's store creates a bucket on any
   access by model name: dict() lists exactly those models. Lookups
   through a const store may mark it, the mark being no part of the data. */
static inline void ms_store_touch(const ms_store *s, int midx) {
  /* both threads of a split diff may mark: written once, atomically */
  if (midx >= 0 && !__atomic_load_n(&s->bymodel[midx].touched, __ATOMIC_RELAXED))
    __atomic_store_n(&s->bymodel[midx].touched, 1, __ATOMIC_RELAXED);
}

/* Deep-copies v into the store's arena; returns MS_OK or MS_ENOMEM. */
int ms_store_copy_value(ms_store *s, const ms_value *v, ms_value *out);

/* Copy-on-write assignment of field fi (v must already live in the store:
   see ms_store_copy_value). Identifier fields of a stored record cannot
   change: MS_EINPUT. */
int ms_record_set(ms_record *r, uint32_t fi, const ms_value *v,
                  ms_err *err);

/* Appends the child's uid to the parent's list for the child's model.
   MS_ETYPE when the parent has no such child type, MS_EEXISTS when the
   uid is listed already. */
int ms_record_add_child(ms_record *parent, const ms_record *child,
                        ms_err *err);
/* Removes the child's uid from the parent's list (MS_ETYPE, MS_ENOTFOUND). */
int ms_record_remove_child(ms_record *parent, const ms_record *child,
                           ms_err *err);

/* Copies a record (fields, flags, status, child uid lists) from another
   store into s as model midx, without inserting it. */
int ms_store_copy_record(ms_store *s, int midx, const ms_record *r,
                         ms_record **out, ms_err *err);

/* ms_store_copy_record, then ms_store_insert. On success *out is the new
   stored record. */
int ms_store_adopt(ms_store *s, int midx, const ms_record *r, ms_record **out,
                   ms_err *err);

/* Sets status and message (copied into the store's arena). */
void ms_record_set_status(ms_record *r, int status, const char *msg);

/* Python str() of each identifier joined with "__", into b. */
void ms_uid_build(ms_buf *b, const ms_model *m, const ms_value *fields);
/* The shortname of a record whose fields are `fields`, into b. */
void ms_shortname_build(ms_buf *b, const ms_model *m, const ms_value *fields);

/* Python repr of a dict of the given fields, e.g. "{'name': 'ams'}". */
void ms_fields_repr(ms_buf *b, const ms_model *m, const ms_value *fields,
                    uint32_t from, uint32_t to);

/* A hash of a record's attribute names and values (Python equality:
   equal values hash equal), identifying the state a plan assumed. */
uint64_t ms_fields_fingerprint(const ms_model *m, const ms_value *fields);

/* Source-id index: records built by mappings, by (model, source id) with
   Python equality on the id. put returns MS_OK or MS_ENOMEM (the latest
   record wins); get returns NULL when absent. */
int ms_store_ref_put(ms_store *s, int midx, const ms_value *id, ms_record *r);
ms_record *ms_store_ref_get(const ms_store *s, int midx, const ms_value *id);

/* ORs flags into the instance flags of every record of model midx. */
void ms_store_or_flags(ms_store *s, int midx, uint32_t flags);

/* DiffSync's adapter.str() text, appended to b. */
void ms_store_str(ms_buf *b, const ms_store *s);

#endif
