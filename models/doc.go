// Package models defines the networks pollab trains and verifies, their flat parameter
// layout and their initialization laws.
//
// A Model is parsed from a spec string ("mlp:784-128-10:relu", "lenet5", "cnn-cifar",
// optionally suffixed ":kaiming"; "resnet:N[:CxHxW]" or "resnet20", He et al.'s CIFAR ResNet
// with BatchNorm buffers: a BufferedModel), implements autodiff.Net, and lists its parameter tensors
// in the fixed flat order with PyTorch names and layouts (linear [out,in], conv
// [out,in,kh,kw]). Each tensor carries the Law it is drawn from at initialization (PyTorch
// defaults: U(±1/√fan_in) for weights and biases, fan_in = in·kh·kw), as data, so a
// verifier can KS-test a claimed initial checkpoint. Init draws tensor i from its own PCG
// stream derived from the seed and the tensor's name.
package models
