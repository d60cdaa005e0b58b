/* hello-c: a small real program to build for any architecture.
 * Prints the architecture it was compiled for and an answer it computes, so a test can
 * check both that the binary runs and that it was built for the right target. */
#include <stdio.h>
#include <stdlib.h>

#include "primes.h"

#if defined(__aarch64__)
#define ARCH "aarch64"
#elif defined(__x86_64__)
#define ARCH "x86_64"
#elif defined(__arm__)
#define ARCH "arm"
#elif defined(__riscv)
#define ARCH "riscv64"
#else
#define ARCH "unknown"
#endif

int main(int argc, char **argv) {
    unsigned long limit = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000UL;
    printf("hello-c on %s: %lu primes below %lu\n", ARCH, count_primes(limit), limit);
    return 0;
}
