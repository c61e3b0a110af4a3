// The layouts of zip containers, for the chunker (model_format.h).
//
// A zip archive (.zip, .npz, MediaPipe .task) is a container: each stored member is a file of its
// own, cut by the format its name suggests (an .npz's .npy members as NumPy arrays, a .task's
// .tflite members as TFLite models), and each compressed or encrypted member is cut by content.
// A PyTorch checkpoint (torch.save since 1.6) is a zip whose `<archive>/data/<key>` members hold
// the tensors' storages, uncompressed: each such member is one tensor (dtype "storage", shape its
// byte length: the dtype and shape of the tensors viewing it are in the pickle, which is not
// read), and the other members (data.pkl, version, byteorder) are files of their own.
#pragma once

#include "common/byte_source.h"
#include "common/errc.h"
#include "common/formats/model_format.h"

namespace mei {

// The members of a zip archive as embedded files (folders and empty members are left to the
// framing). kBadModelFile when `file` is not a zip archive.
[[nodiscard]] Result<FileLayout> ZipLayout(const ByteSource& file);

// A PyTorch checkpoint's storages as tensors and its other members as embedded files.
// kBadModelFile when `file` is not a zip archive or holds no `<archive>/data.pkl`.
[[nodiscard]] Result<FileLayout> PytorchLayout(const ByteSource& file);

}  // namespace mei
