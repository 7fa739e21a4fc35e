/*
 * Values: reading JavaScript arguments (each helper returns 0, or -1 with an exception pending),
 * making JavaScript values, and wrapping native objects under a type tag.
 */
#include "addon.h"

#include <stdlib.h>
#include <string.h>

int lt_get_int64(napi_env env, napi_value v, int64_t *out) {
  napi_valuetype t;
  NAPI_CALL_INT(env, napi_typeof(env, v, &t));
  if (t != napi_number) {
    napi_throw_type_error(env, NULL, "expected a number");
    return -1;
  }
  double d;
  NAPI_CALL_INT(env, napi_get_value_double(env, v, &d));
  if (d != d || d < -9007199254740991.0 || d > 9007199254740991.0 || d != (double)(int64_t)d) {
    napi_throw_range_error(env, NULL, "expected a safe integer");
    return -1;
  }
  *out = (int64_t)d;
  return 0;
}

static int get_ranged(napi_env env, napi_value v, int64_t lo, int64_t hi, int64_t *out) {
  if (lt_get_int64(env, v, out) != 0)
    return -1;
  if (*out < lo || *out > hi) {
    napi_throw_range_error(env, NULL, "integer out of range");
    return -1;
  }
  return 0;
}

int lt_get_int32(napi_env env, napi_value v, int32_t *out) {
  int64_t n;
  if (get_ranged(env, v, INT32_MIN, INT32_MAX, &n) != 0)
    return -1;
  *out = (int32_t)n;
  return 0;
}

int lt_get_uint32(napi_env env, napi_value v, uint32_t *out) {
  int64_t n;
  if (get_ranged(env, v, 0, UINT32_MAX, &n) != 0)
    return -1;
  *out = (uint32_t)n;
  return 0;
}

int lt_get_fd(napi_env env, napi_value v, int *out) {
  int64_t n;
  if (get_ranged(env, v, 0, INT32_MAX, &n) != 0)
    return -1;
  *out = (int)n;
  return 0;
}

static bool is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok)
    return false;
  return t == napi_undefined || t == napi_null;
}

int lt_get_string(napi_env env, napi_value v, bool optional, char **out) {
  *out = NULL;
  if (optional && is_nullish(env, v))
    return 0;
  napi_valuetype t;
  NAPI_CALL_INT(env, napi_typeof(env, v, &t));
  if (t != napi_string) {
    napi_throw_type_error(env, NULL, "expected a string");
    return -1;
  }
  size_t len = 0;
  NAPI_CALL_INT(env, napi_get_value_string_utf8(env, v, NULL, 0, &len));
  char *s = malloc(len + 1);
  if (s == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return -1;
  }
  size_t got = 0;
  napi_status st = napi_get_value_string_utf8(env, v, s, len + 1, &got);
  if (st != napi_ok) {
    free(s);
    lt_throw_status(env, st, "napi_get_value_string_utf8");
    return -1;
  }
  if (strlen(s) != got) {
    free(s);
    napi_throw_type_error(env, NULL, "string must not contain NUL characters");
    return -1;
  }
  *out = s;
  return 0;
}

int lt_get_bytes(napi_env env, napi_value v, bool optional, uint8_t **data, size_t *len) {
  *data = NULL;
  *len = 0;
  if (optional && is_nullish(env, v))
    return 0;
  bool is_ta = false;
  NAPI_CALL_INT(env, napi_is_typedarray(env, v, &is_ta));
  if (!is_ta) {
    napi_throw_type_error(env, NULL, "expected a Uint8Array");
    return -1;
  }
  napi_typedarray_type type;
  void *p = NULL;
  NAPI_CALL_INT(env, napi_get_typedarray_info(env, v, &type, len, &p, NULL, NULL));
  if (type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "expected a Uint8Array");
    return -1;
  }
  *data = p;
  return 0;
}

napi_value lt_string_or_null(napi_env env, const char *s) {
  napi_value v;
  if (s == NULL)
    NAPI_CALL(env, napi_get_null(env, &v));
  else
    NAPI_CALL(env, napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v));
  return v;
}

napi_value lt_int(napi_env env, int64_t n) {
  napi_value v;
  NAPI_CALL(env, napi_create_int64(env, n, &v));
  return v;
}

napi_value lt_bool(napi_env env, bool b) {
  napi_value v;
  NAPI_CALL(env, napi_get_boolean(env, b, &v));
  return v;
}

napi_value lt_undefined(napi_env env) {
  napi_value v;
  NAPI_CALL(env, napi_get_undefined(env, &v));
  return v;
}

int lt_wrap(napi_env env, napi_value obj, const napi_type_tag *tag, void *data, napi_finalize fin) {
  NAPI_CALL_INT(env, napi_type_tag_object(env, obj, tag));
  NAPI_CALL_INT(env, napi_wrap(env, obj, data, fin, NULL, NULL));
  return 0;
}

int lt_unwrap(napi_env env, napi_value obj, const napi_type_tag *tag, const char *what,
              void **out) {
  napi_valuetype t;
  NAPI_CALL_INT(env, napi_typeof(env, obj, &t));
  bool ok = false;
  if (t == napi_object)
    NAPI_CALL_INT(env, napi_check_object_type_tag(env, obj, tag, &ok));
  if (!ok) {
    char buf[96];
    snprintf(buf, sizeof(buf), "expected a native %s handle", what);
    napi_throw_type_error(env, NULL, buf);
    return -1;
  }
  NAPI_CALL_INT(env, napi_unwrap(env, obj, out));
  return 0;
}
