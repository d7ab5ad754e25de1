/*
 * size.h - SIZE parsing and human-readable sizes.
 */
#ifndef MC_SIZE_H
#define MC_SIZE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parses a SIZE as upstream's mooncake_config.json writes one: a decimal
 * number, a fraction allowed (its first 18 digits count), then a
 * 1024-based unit b k kb m mb g gb t tb (case-insensitive) or none,
 * spaces and tabs allowed around both: "64M", "4gb", "1024", "1.5GB",
 * "4 GB", "16777216B". A fraction is cut to a whole byte. No sign,
 * exponent, hex or KiB. Returns 0, -EINVAL (not a size) or -ERANGE (does
 * not fit in 63 bits).
 */
int mc_size_parse(const char *s, uint64_t *out);

/*
 * Formats like the upstream summary: < 1024 "N B", else two decimals and
 * KB MB GB TB (1024-based). Returns @buf.
 */
char *mc_size_human(uint64_t n, char *buf, size_t len);

/* Parses a non-negative decimal integer that fits in 63 bits:
 * 0/-EINVAL/-ERANGE. */
int mc_u64_parse(const char *s, uint64_t *out);

#endif
