// Package image pulls container images into rbox's layer store and
// unpacks their layers into overlay-ready directories.
//
// Which side of the namespace boundary each part runs on:
//
//   - ref.go, source.go, store.go, pull.go, gc.go run on the host as the
//     user: they parse references, talk to registries and read layouts and
//     archives (through go-containerregistry), verify digests and rename
//     finished layers into the store.
//   - unpack.go and entry.go run in the helper (HelperArg), a re-exec of
//     rbox in a new user namespace with the user's full subordinate ID map,
//     as mapped root: there, tar uid N is chowned to the host ID that
//     `rbox exec -u N` runs as, and files of subordinate IDs can be removed.
//     helper.go starts it and speaks to it.
//
// The store lives on disk under $XDG_DATA_HOME/rbox/images (not in the
// tmpfs $XDG_RUNTIME_DIR):
//
//	blobs/sha256/HEX        manifests and configs, by digest
//	layers/HEX/             one unpacked layer per DiffID (mapped ownership)
//	layers-flat/HEX/        the same layer with ownership flattened to the user
//	locks/HEX.lock          flock held while one layer is fetched and unpacked
//	tmp/HEX.RANDOM/         a layer being unpacked; renamed into layers/ only
//	                        after the uncompressed digest matched diff_ids
//	images.json             image records: reference → manifest, config, layers
//
// Package-level state is kept to constants: rbox exec --rootfs links this
// package and must not pay for it at start.
package image
