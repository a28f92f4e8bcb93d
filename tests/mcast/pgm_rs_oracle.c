/* OpenPGM's own Reed-Solomon encoder, as a test oracle for mcast.pgm._pgmfec.
 *
 * pgm_rs_create and pgm_rs_encode are internal to libpgm (hidden in the shared
 * library) but linkable from its static archive, libpgm.a (libpgm-dev).
 *
 * usage: pgm_rs_oracle N K LEN < K blocks of LEN octets; writes the N-K parity
 * blocks (rows K to N-1 of the code), LEN octets each, to standard output.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef uint8_t pgm_gf8_t;
typedef struct { uint8_t n, k; pgm_gf8_t *GM, *RM; } pgm_rs_t; /* pgm/reed_solomon.h */
void pgm_rs_create(pgm_rs_t*, uint8_t n, uint8_t k);
void pgm_rs_encode(pgm_rs_t*, const pgm_gf8_t** src, uint8_t offset, pgm_gf8_t* dst,
                   uint16_t len);

int main(int argc, char** argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s N K LEN\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[1]), k = atoi(argv[2]), len = atoi(argv[3]);
    pgm_gf8_t* data = malloc((size_t)k * len + 1);
    pgm_gf8_t* out = malloc((size_t)len + 1);
    const pgm_gf8_t** src = malloc(sizeof *src * k);
    if (fread(data, 1, (size_t)k * len, stdin) != (size_t)k * len) {
        fprintf(stderr, "short input\n");
        return 2;
    }
    for (int i = 0; i < k; i++) src[i] = data + (size_t)i * len;
    pgm_rs_t rs;
    pgm_rs_create(&rs, (uint8_t)n, (uint8_t)k);
    for (int row = k; row < n; row++) {
        pgm_rs_encode(&rs, src, (uint8_t)row, out, (uint16_t)len);
        fwrite(out, 1, (size_t)len, stdout);
    }
    return 0;
}
