// Interop check for @vigil/verify: reads a JSON request on stdin, answers on stdout.
// Go's sumdb/note opens the checkpoint signed by TypeScript; sumdb/tlog checks TypeScript's
// inclusion and consistency proofs, computes tree hashes and proofs of its own over the same
// leaves, and signs a note with a key from note.GenerateKey for TypeScript to open.
package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type inclusionCase struct {
	LeafHash tlog.Hash   `json:"leaf_hash"`
	Index    int64       `json:"index"`
	TreeSize int64       `json:"tree_size"`
	Path     []tlog.Hash `json:"path"`
	Root     tlog.Hash   `json:"root"`
}

type consistencyCase struct {
	From     int64       `json:"from"`
	To       int64       `json:"to"`
	Path     []tlog.Hash `json:"path"`
	RootFrom tlog.Hash   `json:"root_from"`
	RootTo   tlog.Hash   `json:"root_to"`
}

type storedTile struct {
	Level int    `json:"level"`
	Index int64  `json:"index"`
	Data  []byte `json:"data"` // the tile row at its widest; narrower tiles are prefixes
}

type tileCase struct {
	TreeSize int64     `json:"tree_size"`
	Root     tlog.Hash `json:"root"`
	Index    int64     `json:"index"`
}

// tileStore serves Vigil's tile rows to Go's TileHashReader (height 8, partial tiles as prefixes).
type tileStore map[[2]int64][]byte

func (s tileStore) Height() int { return 8 }

func (s tileStore) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		row, ok := s[[2]int64{int64(t.L), t.N}]
		if !ok || len(row) < t.W*tlog.HashSize {
			return nil, fmt.Errorf("no tile %s", t.Path())
		}
		out[i] = row[:t.W*tlog.HashSize]
	}
	return out, nil
}

func (s tileStore) SaveTiles([]tlog.Tile, [][]byte) {}

type request struct {
	Tiles       []storedTile      `json:"tiles"`
	TileCases   []tileCase        `json:"tile_cases"`
	VerifierKey string            `json:"verifier_key"`
	Note        string            `json:"note"`
	Inclusion   []inclusionCase   `json:"inclusion"`
	Consistency []consistencyCase `json:"consistency"`
	Leaves      []tlog.Hash       `json:"leaves"`
	NoteToSign  string            `json:"note_to_sign"`
}

type response struct {
	TileProofs       [][]tlog.Hash `json:"tile_proofs"`
	NoteText         string        `json:"note_text"`
	NoteError        string        `json:"note_error"`
	Inclusion        []string      `json:"inclusion"`
	Consistency      []string      `json:"consistency"`
	TreeHashes       []tlog.Hash   `json:"tree_hashes"`
	InclusionProofs  [][]tlog.Hash `json:"inclusion_proofs"`
	ConsistencyProof [][]tlog.Hash `json:"consistency_proofs"`
	GoVerifierKey    string        `json:"go_verifier_key"`
	GoSignerKey      string        `json:"go_signer_key"`
	GoNote           string        `json:"go_note"`
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fail(err)
	}
	var res response

	verifier, err := note.NewVerifier(req.VerifierKey)
	if err != nil {
		fail(err)
	}
	opened, err := note.Open([]byte(req.Note), note.VerifierList(verifier))
	res.NoteError = errText(err)
	if err == nil {
		res.NoteText = opened.Text
	}

	for _, c := range req.Inclusion {
		res.Inclusion = append(res.Inclusion, errText(tlog.CheckRecord(c.Path, c.TreeSize, c.Root, c.Index, c.LeafHash)))
	}
	for _, c := range req.Consistency {
		res.Consistency = append(res.Consistency, errText(tlog.CheckTree(c.Path, c.To, c.RootTo, c.From, c.RootFrom)))
	}

	// Go's own log over the same leaf hashes.
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			out[i] = stored[x]
		}
		return out, nil
	})
	for n, leaf := range req.Leaves {
		hashes, err := tlog.StoredHashesForRecordHash(int64(n), leaf, reader)
		if err != nil {
			fail(err)
		}
		stored = append(stored, hashes...)
		th, err := tlog.TreeHash(int64(n+1), reader)
		if err != nil {
			fail(err)
		}
		res.TreeHashes = append(res.TreeHashes, th)
	}
	for _, c := range req.Inclusion {
		if c.TreeSize > int64(len(req.Leaves)) {
			continue
		}
		p, err := tlog.ProveRecord(c.TreeSize, c.Index, reader)
		if err != nil {
			fail(err)
		}
		res.InclusionProofs = append(res.InclusionProofs, p)
	}
	for _, c := range req.Consistency {
		if c.To > int64(len(req.Leaves)) {
			continue
		}
		p, err := tlog.ProveTree(c.To, c.From, reader)
		if err != nil {
			fail(err)
		}
		res.ConsistencyProof = append(res.ConsistencyProof, p)
	}

	// Go reads this package's tiles through its own TileHashReader, which authenticates every tile
	// against the tree hash, and proves records from them.
	store := tileStore{}
	for _, t := range req.Tiles {
		store[[2]int64{int64(t.Level), t.Index}] = t.Data
	}
	for _, c := range req.TileCases {
		thr := tlog.TileHashReader(tlog.Tree{N: c.TreeSize, Hash: c.Root}, store)
		p, err := tlog.ProveRecord(c.TreeSize, c.Index, thr)
		if err != nil {
			fail(err)
		}
		res.TileProofs = append(res.TileProofs, p)
	}

	skey, vkey, err := note.GenerateKey(rand.Reader, "go-interop")
	if err != nil {
		fail(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		fail(err)
	}
	signed, err := note.Sign(&note.Note{Text: req.NoteToSign}, signer)
	if err != nil {
		fail(err)
	}
	res.GoVerifierKey, res.GoSignerKey, res.GoNote = vkey, skey, string(signed)

	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
