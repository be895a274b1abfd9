/* CRC-32C, table driven, one byte at a time.  Written here because Debian
 * ships no C library for it (zlib has only the IEEE CRC-32, and there is no
 * libcrc32c-dev); event files are small, so a byte-wise table is fast enough. */
#include "crc32c.h"

#include <pthread.h>

/* Reflected form of the Castagnoli polynomial 0x1EDC6F41. */
#define CRC32C_POLY 0x82F63B78u

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t sq_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_once, crc_table_init);
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < len; i++)
        crc = crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

uint32_t sq_crc32c_mask(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}
