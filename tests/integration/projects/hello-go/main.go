package main

import (
	"fmt"
	"runtime"
)

func main() {
	total := 0
	for i := 1; i <= 10; i++ {
		total += i * i * i
	}
	fmt.Printf("hello-go on %s: %d\n", runtime.GOARCH, total)
}
