/*
 * frame.c - the transfer framing's codec (mooncake-transfer(7)).
 */
#include "autoconfig.h"

#include <string.h>

#include "frame.h"

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void xfer_hdr_encode(const struct xfer_hdr *h, unsigned char out[XFER_HDR_LEN])
{
	memset(out, 0, XFER_HDR_LEN);
	put_le64(out, h->size);
	put_le64(out + 8, h->addr);
	out[16] = h->opcode;
}

void xfer_hdr_decode(const unsigned char in[XFER_HDR_LEN], struct xfer_hdr *h)
{
	h->size = get_le64(in);
	h->addr = get_le64(in + 8);
	h->opcode = in[16];
}

void xfer_status_encode(unsigned code, unsigned char out[XFER_STATUS_LEN])
{
	put_le64(out, XFER_MAGIC << 32 | code);
}

int xfer_status_decode(const unsigned char in[XFER_STATUS_LEN])
{
	uint64_t v = get_le64(in);

	if (v >> 32 != XFER_MAGIC)
		return -1;
	return (int)(v & 0x7fffffff);
}
