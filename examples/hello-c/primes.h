#ifndef PRIMES_H
#define PRIMES_H
unsigned long count_primes(unsigned long limit);
#endif
