// Package contract holds every name and wire shape that crosses a program
// boundary: labels and annotations shared by the operator, the injector and the
// proxy; the proxy's metric names; the identity and discovery messages; ports.
// Each is defined once here and imported everywhere else.
package contract
