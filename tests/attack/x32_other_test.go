//go:build !amd64

package attack

import "fmt"

func x32() int {
	fmt.Println("x32 getpid: no x32 ABI here")
	return 0
}
