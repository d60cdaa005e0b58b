#include <stdio.h>

int main(void) {
    unsigned long sum = 0;
    for (unsigned long i = 1; i <= 100; i++) sum += i;
#if defined(__aarch64__)
    printf("hello-autotools on aarch64: %lu\n", sum);
#elif defined(__x86_64__)
    printf("hello-autotools on x86_64: %lu\n", sum);
#else
    printf("hello-autotools on other: %lu\n", sum);
#endif
    return 0;
}
