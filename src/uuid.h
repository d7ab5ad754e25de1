/*
 * uuid.h - RFC 4122 version 4 ids in lowercase text form.
 */
#ifndef MC_UUID_H
#define MC_UUID_H

#include <stdbool.h>

/* Writes 36 characters and a NUL into @out (37 bytes). */
void mc_uuid_new(char out[37]);
/* True when @s is 36 characters of 8-4-4-4-12 lowercase hex. */
bool mc_uuid_valid(const char *s);

#endif
