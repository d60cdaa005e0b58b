#include <iostream>
#include <numeric>
#include <vector>

int main() {
    std::vector<int> squares(10);
    std::iota(squares.begin(), squares.end(), 1);
    for (auto &n : squares) n *= n;
#if defined(__aarch64__)
    const char *arch = "aarch64";
#elif defined(__x86_64__)
    const char *arch = "x86_64";
#else
    const char *arch = "other";
#endif
    std::cout << "hello-cmake on " << arch << ": " << std::accumulate(squares.begin(), squares.end(), 0) << "\n";
}
