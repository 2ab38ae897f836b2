#!/usr/bin/python3
"""Export a BERT-base-shaped encoder (random, seeded weights) to ONNX.

Run with the Debian interpreter (it has torch 1.13 + numpy):

    /usr/bin/python3 tools/peer/export_bert_onnx.py            # -> tools/peer/bert-base.onnx

The model is written in plain torch modules with Hugging Face BertModel semantics
(BertForSequenceClassification, eval mode):
  embeddings: word + position + token_type -> LayerNorm(eps 1e-12)
  N layers:   QKV Linear -> softmax(QK^T/sqrt(dh) + additive mask) V -> out Linear
              -> residual + LayerNorm; FFN Linear(d,f) -> exact (erf) GELU
              -> Linear(f,d) -> residual + LayerNorm
  pooler:     tanh(Linear(h[:, 0]))
  classifier: Linear(d, num_labels)
Additive mask is (1 - mask) * -10000, as in HF BERT before v4.21.

Inputs (int64, dynamic batch and sequence): input_ids, attention_mask, token_type_ids.
Output: logits [batch, num_labels].

Next to the model it writes <model>.ref.json: one fixed input (batch 2, small seq,
second row padded) and the torch logits for it. check_export.js runs the ONNX model
on that input with onnxruntime-node and compares.
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class Embeddings(nn.Module):
    def __init__(self, vocab, max_pos, type_vocab, d, eps):
        super().__init__()
        self.word = nn.Embedding(vocab, d)
        self.position = nn.Embedding(max_pos, d)
        self.token_type = nn.Embedding(type_vocab, d)
        self.ln = nn.LayerNorm(d, eps=eps)

    def forward(self, input_ids, token_type_ids):
        n = input_ids.shape[1]
        pos = torch.arange(n, dtype=torch.long, device=input_ids.device).unsqueeze(0)
        x = self.word(input_ids) + self.position(pos) + self.token_type(token_type_ids)
        return self.ln(x)


class Layer(nn.Module):
    def __init__(self, d, heads, f, eps):
        super().__init__()
        assert d % heads == 0
        self.heads = heads
        self.dh = d // heads
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.o = nn.Linear(d, d)
        self.ln1 = nn.LayerNorm(d, eps=eps)
        self.ff1 = nn.Linear(d, f)
        self.ff2 = nn.Linear(f, d)
        self.ln2 = nn.LayerNorm(d, eps=eps)

    def split(self, t):  # [b, n, d] -> [b, h, n, dh]
        b, n, _ = t.shape
        return t.view(b, n, self.heads, self.dh).transpose(1, 2)

    def forward(self, x, add_mask):
        b, n, d = x.shape
        q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.dh) + add_mask
        p = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(p, v).transpose(1, 2).reshape(b, n, d)
        x = self.ln1(self.o(ctx) + x)
        h = F.gelu(self.ff1(x))  # exact erf GELU (approximate='none')
        return self.ln2(self.ff2(h) + x)


class BertClassifier(nn.Module):
    def __init__(self, vocab=30522, max_pos=512, type_vocab=2, d=768, layers=12,
                 heads=12, f=3072, num_labels=2, eps=1e-12):
        super().__init__()
        self.emb = Embeddings(vocab, max_pos, type_vocab, d, eps)
        self.layers = nn.ModuleList([Layer(d, heads, f, eps) for _ in range(layers)])
        self.pool = nn.Linear(d, d)
        self.cls = nn.Linear(d, num_labels)

    def forward(self, input_ids, attention_mask, token_type_ids):
        # [b, n] -> [b, 1, 1, n] additive mask, as HF get_extended_attention_mask
        add_mask = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * -10000.0
        x = self.emb(input_ids, token_type_ids)
        for layer in self.layers:
            x = layer(x, add_mask)
        pooled = torch.tanh(self.pool(x[:, 0]))
        return self.cls(pooled)


def init_weights(model, std=0.02):
    """HF BertPreTrainedModel._init_weights: N(0, 0.02) weights, zero biases, LN = (1, 0)."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=std)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def reference_input(args, batch=2, seq=16, seed=1234):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, args.vocab, (batch, seq), generator=g, dtype=torch.long)
    mask = torch.ones(batch, seq, dtype=torch.long)
    types = torch.zeros(batch, seq, dtype=torch.long)
    if batch > 1:
        mask[1, seq * 3 // 4:] = 0           # padded tail on row 1
        types[1, seq // 2:] = 1              # sentence B on row 1
    return ids, mask, types


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "bert-base.onnx"))
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--ffn", type=int, default=3072)
    ap.add_argument("--vocab", type=int, default=30522)
    ap.add_argument("--max-pos", type=int, default=512)
    ap.add_argument("--labels", type=int, default=2)
    ap.add_argument("--opset", type=int, default=14)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check-seq", type=int, default=16,
                    help="sequence length of the saved reference input")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    model = BertClassifier(args.vocab, args.max_pos, 2, args.hidden, args.layers,
                           args.heads, args.ffn, args.labels)
    init_weights(model)
    model.eval()
    nparams = sum(p.numel() for p in model.parameters())

    ids, mask, types = reference_input(args, seq=args.check_seq)
    with torch.no_grad():
        ref_logits = model(ids, mask, types)
        # export with a different shape than the check input so dynamic axes get exercised
        dummy = reference_input(args, batch=1, seq=min(8, args.max_pos), seed=99)
        torch.onnx.export(
            model, dummy, args.out,
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["logits"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "token_type_ids": {0: "batch", 1: "sequence"},
                "logits": {0: "batch"},
            },
            opset_version=args.opset,
            do_constant_folding=True,
        )

    ref_path = args.out + ".ref.json"
    with open(ref_path, "w") as fh:
        json.dump({
            "config": {k: getattr(args, k) for k in
                       ("layers", "hidden", "heads", "ffn", "vocab", "max_pos", "labels",
                        "opset", "seed")},
            "torch_version": torch.__version__,
            "shape": list(ids.shape),
            "input_ids": ids.flatten().tolist(),
            "attention_mask": mask.flatten().tolist(),
            "token_type_ids": types.flatten().tolist(),
            "logits_shape": list(ref_logits.shape),
            "logits": ref_logits.flatten().tolist(),
        }, fh)
    size_mb = os.path.getsize(args.out) / 1e6
    print(f"wrote {args.out} ({size_mb:.1f} MB, {nparams / 1e6:.1f}M params, opset {args.opset})")
    print(f"wrote {ref_path} (reference input {list(ids.shape)}, torch logits "
          f"{[round(v, 6) for v in ref_logits.flatten().tolist()]})")


if __name__ == "__main__":
    sys.exit(main())
