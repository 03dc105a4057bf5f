package helm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Owner is the object every rendered resource is labelled with and owned by.
type Owner struct {
	APIVersion, Kind, Name string
	UID                    types.UID
	// Labels are added to (and override) the labels of every rendered object.
	Labels map[string]string
}

// ownerPostRenderer implements Helm's postrender.PostRenderer: it adds
// Owner.Labels and a controller ownerReference to Owner to every rendered
// object, namespaced or cluster-scoped (the owner is cluster-scoped).
type ownerPostRenderer struct {
	owner Owner
}

// Run parses the rendered manifests, decorates each object and writes them
// back as a YAML stream, in the order Helm rendered them.
func (p ownerPostRenderer) Run(rendered *bytes.Buffer) (*bytes.Buffer, error) {
	objs, err := parseManifest(rendered)
	if err != nil {
		return nil, err
	}
	out := &bytes.Buffer{}
	for _, obj := range objs {
		if err := p.decorate(obj); err != nil {
			return nil, err
		}
		data, err := yaml.Marshal(obj.Object)
		if err != nil {
			return nil, fmt.Errorf("encoding %s %q: %w", obj.GetKind(), obj.GetName(), err)
		}
		out.WriteString("---\n")
		out.Write(data)
	}
	return out, nil
}

func (p ownerPostRenderer) decorate(obj *unstructured.Unstructured) error {
	if obj.IsList() {
		list, err := obj.ToList()
		if err != nil {
			return fmt.Errorf("reading list: %w", err)
		}
		for i := range list.Items {
			if err := p.decorate(&list.Items[i]); err != nil {
				return err
			}
		}
		obj.SetUnstructuredContent(list.UnstructuredContent())
		return nil
	}
	if len(p.owner.Labels) > 0 {
		labels := obj.GetLabels()
		if labels == nil {
			labels = make(map[string]string, len(p.owner.Labels))
		}
		for k, v := range p.owner.Labels {
			labels[k] = v
		}
		obj.SetLabels(labels)
	}
	if p.owner.UID == "" || p.owner.Name == "" {
		return nil
	}
	yes := true
	ref := metav1.OwnerReference{
		APIVersion:         p.owner.APIVersion,
		Kind:               p.owner.Kind,
		Name:               p.owner.Name,
		UID:                p.owner.UID,
		Controller:         &yes,
		BlockOwnerDeletion: &yes,
	}
	// An object has at most one controller: replace any other controller
	// reference, and any stale reference to the same owner.
	refs := []metav1.OwnerReference{ref}
	for _, r := range obj.GetOwnerReferences() {
		if r.UID == ref.UID || (r.Controller != nil && *r.Controller) {
			continue
		}
		refs = append(refs, r)
	}
	obj.SetOwnerReferences(refs)
	return nil
}

// parseManifest splits a YAML stream into objects, skipping empty documents
// (including documents made only of comments). Every object must have an
// apiVersion and a kind.
func parseManifest(r io.Reader) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var objs []*unstructured.Unstructured
	for i := 0; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading manifest document %d: %w", i, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("parsing manifest document %d: %w", i, err)
		}
		if len(m) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{Object: m}
		if obj.GetAPIVersion() == "" || obj.GetKind() == "" {
			return nil, fmt.Errorf("manifest document %d (%s): apiVersion and kind are required", i, firstLine(doc))
		}
		objs = append(objs, obj)
	}
}

func firstLine(doc []byte) string {
	s := strings.TrimSpace(string(doc))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
