package kubeenv

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// ErrInjected is what a write or list failed by Faults returns: a transient
// API-server error, as a real server gives under load.
var ErrInjected = apierrors.NewServiceUnavailable("injected failure")

// Faults makes controller-runtime's fake client fail at one exact point and
// counts its writes (Create, Update, Patch, Delete).
type Faults struct {
	// Fail is asked before every write; true fails it with ErrInjected and
	// leaves the store unchanged.
	Fail func(verb string, obj client.Object) bool
	// FailList is asked before every List.
	FailList func(list client.ObjectList) bool
	// Written is told about every write that reached the store.
	Written func(verb string, obj client.Object)
	// Attempts counts the writes asked for, Writes those that reached the store.
	Attempts, Writes int
}

// NewFakeClient is the fake client over objs, with the operator's scheme and f.
func NewFakeClient(f *Faults, objs ...client.Object) client.WithWatch {
	return fake.NewClientBuilder().WithScheme(Scheme()).WithObjects(objs...).WithInterceptorFuncs(f.funcs()).Build()
}

func (f *Faults) write(verb string, obj client.Object, do func() error) error {
	f.Attempts++
	if f.Fail != nil && f.Fail(verb, obj) {
		return ErrInjected
	}
	if err := do(); err != nil {
		return err
	}
	f.Writes++
	if f.Written != nil {
		f.Written(verb, obj)
	}
	return nil
}

func (f *Faults) funcs() interceptor.Funcs {
	return interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			return f.write("create", obj, func() error { return c.Create(ctx, obj, opts...) })
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			return f.write("update", obj, func() error { return c.Update(ctx, obj, opts...) })
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			return f.write("patch", obj, func() error { return c.Patch(ctx, obj, patch, opts...) })
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			return f.write("delete", obj, func() error { return c.Delete(ctx, obj, opts...) })
		},
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if f.FailList != nil && f.FailList(list) {
				return ErrInjected
			}
			return c.List(ctx, list, opts...)
		},
	}
}
