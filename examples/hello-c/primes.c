#include <stdlib.h>

#include "primes.h"

/* Sieve of Eratosthenes: the number of primes strictly below `limit`. */
unsigned long count_primes(unsigned long limit) {
    if (limit < 3) return 0;
    unsigned char *composite = calloc(limit, 1);
    if (composite == NULL) return 0;
    unsigned long count = 0;
    for (unsigned long i = 2; i < limit; i++) {
        if (composite[i]) continue;
        count++;
        for (unsigned long j = i * i; j < limit; j += i) composite[j] = 1;
    }
    free(composite);
    return count;
}
