// Package imagestore keeps a node's container images: it pulls them from registries and imports them
// from OCI layout and docker-archive tarballs, unpacks each layer once into a directory that overlayfs
// can stack as a lower dir, and names images by reference (docker.io/library/busybox:latest) and by ID
// (the sha256 digest of the image's config, as CRI runtimes report image IDs).
//
// Layout under the data dir DIR:
//
//	DIR/images/lock                      flock taken around every change by any process
//	DIR/images/index.json                references, images, layers; replaced atomically
//	DIR/images/blobs/sha256/<hex>        image configs
//	DIR/images/layers/<diffID hex>/      one unpacked layer, OCI whiteouts turned into overlay whiteouts
//	DIR/images/tmp/<store>/              a store's work space; <store>.lock is flocked while it lives
//
// The index is the truth: a layer directory is complete once renamed into layers/, and counts once the
// index names it. What a crash leaves behind (a half unpacked layer in tmp/, a layer the index does not
// name) is removed by the next Open. Several Stores, in one process or many, may share a directory: the
// agent keeps one open while `skiff image import` adds images with another.
package imagestore
