"""Request keys are forever: these were computed on main before backends became plugins, and must
never change, or every user would buy their images again (SPEC §5).

If one of these tests fails, the change broke a promise: undo it, don't update the literals. The
keys of stories are computed as a run computes them (tests/keypins.py), with synthetic sources
for chained frames; an outpaint's canvas is encoded by Pillow, so a Pillow upgrade that changes
its PNG bytes shows up here too (it would re-buy outpaints: worth knowing before shipping it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from keypins import identity, story_keys

from storyboard.backends import ImageRequest, InputImage
from storyboard.requests import request_key

PIPELINES = Path(__file__).resolve().parent.parent / "pipelines"
A, B, M = "a" * 64, "b" * 64, "c" * 64


def _img(sha: str, role: str) -> InputImage:
    return InputImage(b"", sha, "image/png", role, "x")  # type: ignore[arg-type]


REQUESTS = {
    "generate": ImageRequest("generate", "gpt-image-2", "a robot dog in a lab", "1536x1024", "medium"),
    "edit": ImageRequest(
        "edit", "gpt-image-2", "the same street at night", "1536x864", "high",
        {"output_format": "webp", "background": "opaque"}, (_img(A, "source"), _img(B, "reference")), _img(M, "mask"),
    ),
    "dalle3": ImageRequest("generate", "dall-e-3", "a poster", "1024x1792", "hd"),
    "dalle2-variation": ImageRequest("variation", "dall-e-2", "", "1024x1024", "standard", images=(_img(A, "source"),)),
    "unsized": ImageRequest("generate", "my-local-model", 'ein Hund · 犬 — "quoted"', None, None),
    "seeded": ImageRequest("generate", "gpt-image-2", "a robot dog", "1024x1024", "low", seed=1234),
}  # fmt: skip

REQUEST_KEYS = [  # (request, backend, host, frame identity, take, key)
    ("generate", "draft", None, "lab", 1, "c01c45f967df8759918e4b2b3bb1652e5a3d85a22428a9368eb0a4c7344d072b"),
    ("generate", "openai", "api.openai.com", "lab", 1, "8b13afdfd268d6a6fde196d7e82cbb26b9581dd71488e9cb3a37015fa1b3978d"),
    ("generate", "openai", "127.0.0.1:8080", "lab", 2, "93d83e6defae0ac32fc132e4d5c0d89ba65958240dac168cd2aa761f1341d6b9"),
    ("generate", "openai", "LocalHost:8080", "#0", 1, "898ed5bd8526cf50915b451f82f9aa54dd7b601bcc5ac3343ad2502d77e5fd31"),
    ("edit", "openai", "api.openai.com", "night", 3, "ebf61d7c3ded436f69513de647768eccbbab064a85ba0f4714fa055e393a1c5e"),
    ("edit", "draft", None, "night", 1, "18f45f4d779750542b475b97fc1a7b2cd933ae895c7bf486ac2ade8fb71f3841"),
    ("dalle3", "openai", "api.openai.com", "poster", 1, "489c03b41315fd1ee6f7f806e5c46d4832360319973160d3e367db477807cbe0"),
    ("dalle2-variation", "openai", "127.0.0.1:8080", "#1", 2, "52f9cf975642dd7f008f712edb4690a0e941a35dc80d179b92b659deb8e00081"),
    ("unsized", "openai", "127.0.0.1:8080", "character:rex", 1, "8c39d4083e099608d994bff74a51a656adbcaa0a2541c82383be9180133f7b70"),
    ("seeded", "draft", None, "lab", 1, "16f37c1f34ba297090d5f5589f764deea511478dd0f80b1b9c149281bb8eb657"),
]
HOSTS = [  # environment -> (backend, host) that `auto` chooses and keys hash
    ({}, ("draft", None)),
    ({"OPENAI_API_KEY": "sk-x"}, ("openai", "api.openai.com")),
    ({"OPENAI_BASE_URL": "http://127.0.0.1:8080/v1"}, ("openai", "127.0.0.1:8080")),
    ({"OPENAI_BASE_URL": "https://api.openai.com/v1", "OPENAI_API_KEY": "sk-x"}, ("openai", "api.openai.com")),
    ({"OPENAI_BASE_URL": "http://LocalHost:8080/v1"}, ("openai", "LocalHost:8080")),
    ({"OPENAI_BASE_URL": "http://[::1]:8080/v1"}, ("openai", "[::1]:8080")),
    ({"OPENAI_BASE_URL": "https://images.example.com"}, ("openai", "images.example.com")),
    # Credentials never in the identity. (Before backends became plugins they were, for the key only:
    # the keys of a URL with user:password changed once, so that no password is hashed or recorded.)
    ({"OPENAI_BASE_URL": "http://user:secret@127.0.0.1:8080/v1"}, ("openai", "127.0.0.1:8080")),
]

STORY_KEYS = {  # (story, backend, host) -> [(job, take, key)]
    ("adventure.yaml", "draft", None): [
        ("wren", 1, "f645c9be42039d11f77189daa8cd5cef264ac8870728416676b8cd959902a2c9"),
        ("01-edge", 1, "4d14e615c20eedcee6453ae59e903818107d8262e3b2eada7616fd812596526e"),
        ("02-cottage", 1, "48b9a9dfd050a9b2a6afb61c0e3cb8f9599f948f07e501793ec43dd8a9e62430"),
        ("03-fork", 1, "3c39421647c522261c449b04671a424203abbef67429da62094e78b2d408239f"),
        ("04-bridge", 1, "10c95625b6efd9e0ce61153781e53fb3be22f18d686dadb118f2cf22146acd8b"),
        ("05-hollow", 1, "f5ffda87a88d00795f29670f45d2561160823e1f6e02e7ad4219722b5c868467"),
        ("06-grove", 1, "536c1b1a2a5f55b03445532d34aab85961b3b458f93689cba3ded055a3e9cece"),
        ("07-chase", 1, "880b0965bf8c5c80496020d7d381df772750bb902451ba7fbffa655505d5309f"),
        ("08-lost", 1, "57fac813cabf494c73ed54c06933725e7d008e7fcc98b7bb54076f7f10dc133e"),
        ("09-lights", 1, "3461f3d0514c3cf31fd925014579785cc0765eb38ec7569262174d0e3fa4fc04"),
        ("10-home", 1, "732d556eac376e66a3160bdfc4035389134cf1c4ea8c2f655f24e4ed9fee1971"),
    ],
    ("adventure.yaml", "openai", "api.openai.com"): [
        ("wren", 1, "93760f5c9160723fccb062c82c6b49583c2ca894430a4846e201e7986ea2091e"),
        ("01-edge", 1, "7dad39ff017b386ea9bbecd5f02a9e1eaa5b4ff512511fb6bcac2e496cb1ca2b"),
        ("02-cottage", 1, "6c277dff645410832815e15acbe7863ee9b686f4b71c4d7f3be26875393d47fa"),
        ("03-fork", 1, "ae77c1721f2dc928aca01e5aaa5192981b839abaebd853b2fefdc67dfad761c4"),
        ("04-bridge", 1, "13cd43b6228cf8e73cb61dc80d87e2482a2ffc6715672da4143f169c7e965322"),
        ("05-hollow", 1, "e1904a4ca72f153d08c0b5e67c1ca7f0aefdd7367fcea0b52ac2261b4ae2538a"),
        ("06-grove", 1, "27765183e03fdf75bc7c099b06b80c0479b4b2e51cb45d4092e9c1a91d2ff411"),
        ("07-chase", 1, "fd04eee872710874c0283bee4816632bfd827bffa2211045fa3ab66af91151a0"),
        ("08-lost", 1, "ee12340fb7e56b0f1f2d980eb99dd29e6adffeae072ba0715c7fc4e3c43d95d0"),
        ("09-lights", 1, "6ba1a42ed297c6de9f999cbbc11833015e9e0c121ef2eec573f6d0ed108753e7"),
        ("10-home", 1, "3bf2bf7ef7ba5e85b3f4b2e8c08e204772e34629c462562dc1009da51e0bd223"),
    ],
    ("adventure.yaml", "openai", "127.0.0.1:8080"): [
        ("wren", 1, "d21657ad125d97ccc1daef3acf5284a12d12b4f0facb5ae78e2ad367326e41f7"),
        ("01-edge", 1, "fc9f5019dc37f731d507178024b9b35ffb4dba6c8492c286f6a03d0ec84b0790"),
        ("02-cottage", 1, "622531c6a07e143eb9586c0638910e0844eb566b0d7ec1f8781b17a3b3e419df"),
        ("03-fork", 1, "52ae8922e351109ad03c552c3a6be7305f337064ad1d7444164f3599c0089e4d"),
        ("04-bridge", 1, "6e1da93ecbb53b7632a689a494437a66c253a036be8e1a9079073b71c6ccf829"),
        ("05-hollow", 1, "fecdc0a29dea50bc484ee4d2f8e51cadfff82c636a20b2cec3b8a9aad0397f47"),
        ("06-grove", 1, "c02d7f00e1ee582479d266192bebff83e12a2cb4c7a308d27c129a3ab3c74ae7"),
        ("07-chase", 1, "5537132bd09078cfb0b37e1714507b483f4f26f10e37440f74c9a433d645515e"),
        ("08-lost", 1, "d98a851d81663a0d8b3bd45848fdce5b167a06f6d2e2857e79409471f16f070e"),
        ("09-lights", 1, "082d9e4fa2dde600e09b09bd030f32230da9c8a3d3114331c2ff0388aa06e2b7"),
        ("10-home", 1, "3c6176b2bb9f6b7fbc2a4e7f29d950e3068df2958c45753e0f20a416f2715835"),
    ],
    ("biomachines-paint.yaml", "draft", None): [
        ("01-street", 1, "8dc9fcbf8a5c8ad502a8417ee02f19edccbd9c5c12e626d95793fa5d71ca43b7"),
        ("02-skull", 1, "d03a1cc796525dea16ba6fbca76b6aa8fbef7217af5a9e7f9851d31a1dd93491"),
        ("03-wider", 1, "7d4ed6903a175925fd86505bc2453bb0c22a46e5c791d25deea613eed7229cbe"),
        ("04-alt", 1, "58e4970872f0999db92a8b3402821f8d40108578852b10a095587c7724a35b8e"),
        ("04-alt", 2, "06a734a5a6d61108a6c237822996a2e92daf92b44e934bf947b439fa80d6f785"),
    ],
    ("biomachines-paint.yaml", "openai", "api.openai.com"): [
        ("01-street", 1, "0569bde14743f874e93f9ac31185223e177a8998b612111b34d4db89e8af0fd2"),
        ("02-skull", 1, "9e4ec61066c4d4965f642073f10e7929e972df6b61064e0248c3644b98d21e55"),
        ("03-wider", 1, "6fb9a3dce66188aa650b210a27a443633cb5808b09f4bbb467bec696be922b4a"),
        ("04-alt", 1, "b64bfadb1d5c1ba9665311d1cbd596519c4a7044577b031fe6d80e696546efea"),
        ("04-alt", 2, "4a6ef7d8151c65c8ff38cacf3df5db6be452afef6ac8f1b9dd658415a6bc21d4"),
    ],
    ("biomachines-paint.yaml", "openai", "127.0.0.1:8080"): [
        ("01-street", 1, "429c0a3e7bb3c2f45fb4d2ff8811dd2adb968bdf6da2cf1dc89938485fdbe656"),
        ("02-skull", 1, "1c1980b0d5d93ec96316d845f2a5ea450623a58aa5db4dbf1b8ac8c4cfaca498"),
        ("03-wider", 1, "05e0667bd64a0d4297e8fcc4e68726c5d9583c387122f2607bdbe1d17b61c39b"),
        ("04-alt", 1, "9814d9ec415d935b74389a60b9130a345b078208a77f5d3f18d20ff5b279e000"),
        ("04-alt", 2, "aa226bffa3e9ad739bed3cf00b6e9e6278c4313b121a2ce55a211bacbaf81d66"),
    ],
    ("biomachines.yaml", "draft", None): [
        ("01-title", 1, "2416af9931d3d0674fe56a89ffe99f1233278dedbb1f2d34d6c172d7f223288f"),
        ("02-city", 1, "7c8c778b8f1da78adb42813442075ba9abe6878dd9f2f0de758031c64face68b"),
        ("03-lab", 1, "f1ac13248baf0ff551791589d5265e40f36680ea5abbb4fbafe5ee092f8effd0"),
        ("04-mirror", 1, "28fa67268165e1aefd70b85ef92cbf45f0cf521935177350c2f43e4c406b6ab0"),
        ("05-awakening", 1, "f9a44e2232ec0b614dc2c69dd58f21f48df91ce195096c5f30f6923396a16eb9"),
        ("06-skyline", 1, "89ec45251b47518e1f7f6abb9043d8742eefb3f30f7cbe082fc9454e99bd2168"),
    ],
    ("biomachines.yaml", "openai", "api.openai.com"): [
        ("01-title", 1, "6c1a2c897e91ba3f256876abd64c164c1f178efca03077882ba5dcf35a8f73ed"),
        ("02-city", 1, "d62baecb664eecbdee26550d254cdd2e5f804c7c9498568d0eed2f90ce8b2c10"),
        ("03-lab", 1, "756718bee60f4f64fd2893531209a1e5c21d35ab3d62ced16bbfefeadf5bbb85"),
        ("04-mirror", 1, "b2fbaf61d5e0b7d250ae5359a97a5cc290ed57194a22d47bb6dabedbb6212477"),
        ("05-awakening", 1, "0a79dceb4e35196ea924848b5f69d094367a5b29b90200ba922323ff45edcd3a"),
        ("06-skyline", 1, "33d5eb594e17e02ec2103b5afdd426073efcd44a31eea47a7fb2c84448b067ef"),
    ],
    ("biomachines.yaml", "openai", "127.0.0.1:8080"): [
        ("01-title", 1, "bfe88b3ff790ae2338abbb958a3eb0a8a9f5cbaf31648128174e6bc7aabb2835"),
        ("02-city", 1, "ddaf2097c84de216f6ec4ab39fdec03b857f60737f6d23c735609b6982dbbd5b"),
        ("03-lab", 1, "5e89ee83c61de67ab84e2f986ba39f8d67758ccf4562d9368a94b47396411d70"),
        ("04-mirror", 1, "98b5537825f8dfc22a3c84a0540f98565fb8ee4ac8281f9bd703fcbd50d6b19a"),
        ("05-awakening", 1, "3181071b275bd233cc893b9703c7716725982174df9095f3171dbd9d4b489ec2"),
        ("06-skyline", 1, "0eb8138e0eb5947c774354ab31393c92c743a4fcb146391489e2de0be31b88ae"),
    ],
    ("comic-kite.yaml", "draft", None): [
        ("01-hill", 1, "605b79cd5e02dab60b1070ca9e40442d4fc5e23fa283b06b3ceca16363dd8ad2"),
        ("02-launch", 1, "6476dfe641d1e3d0d05157a28936f207b61e6a1bece422e07de43b3c9af1ca49"),
        ("03-high", 1, "0c50d3943360e832e03103b3bf2012b6e27830971fc4e2d012d5cd40eee94905"),
        ("04-tug", 1, "bc49818730ffc2a8f4f2b2403311bb65924ed813bc9e3a1c572cab760c076c85"),
        ("05-snap", 1, "0953e894d19f8d2fcc46ff307c9df2989576e4babd8a83988c9127122c6e51a4"),
        ("06-away", 1, "a69168fb3c33d28b64d0aff664c0e77b43e6b08fb6b37036dc5ca204fb4bac0c"),
        ("07-bikes", 1, "ce64cb74a3ed6999ce3b6a1b5e88f7cf63c582155a8e9a7df881b7f92543d4d0"),
        ("08-market", 1, "1c99aa007dba4852422c913b40d34db9efdae3bd950712f9f0ba48c3648e02c0"),
        ("09-stairs", 1, "48f5036282dc2e21f7dd0b018cf15acae03af010e72d6011b76245f1dcb55482"),
        ("10-rail", 1, "6b4ccfdcab60fd7973b898d80d3357b91dcdfb9a15084cd60d52984fdfa4948b"),
        ("11-view", 1, "c17e99795ce3dbc0770195ac6267ec77180527af47e59ea9abbbe2397a91b655"),
        ("12-shark", 1, "ee9edf8f2ad30219d63862385cabe8033d81550312526ba97e898834d9dbd74e"),
    ],
    ("comic-kite.yaml", "openai", "api.openai.com"): [
        ("01-hill", 1, "a87ea7fce8fca7bbf3b29e2a707c1cdd9af1b27b047a67ddeae6996bc66471e2"),
        ("02-launch", 1, "31621a020b1cbb6364c5f2967922a782821c8f86abc314d7eab6091886043c12"),
        ("03-high", 1, "f8e620282dc5501d6dd86f27a204a8c0d06830092ef4906d62c1fa083cf6cee9"),
        ("04-tug", 1, "107c420c666273410e0ee2cfcd92cccdc4d39796c1e5c8f6f81ec3f7bba4b853"),
        ("05-snap", 1, "2477c4859465e743db244750f9ad57337891490c09ac4f81caa4961dce422e79"),
        ("06-away", 1, "55c4b47b9e41528b8564afa0a2eaf2ed741d5d63f453f9fe52ba064694e9d78c"),
        ("07-bikes", 1, "71f49966a3798a4ab1932ed87593181b742c6bbc9adb57691a139b3a6f277f8c"),
        ("08-market", 1, "529045b868bd6ee0abc9b468f0ff306ac93ad41ddb3637a274343a4083d74397"),
        ("09-stairs", 1, "4f6b7e74e4009112e489e50389f0c2f42fd48a7147cf5ec3f486d2de6f7f2ac3"),
        ("10-rail", 1, "34150831744cee5ec19cdd25f2f509cde046db2f01a54c836afb0a8f7e3a4f34"),
        ("11-view", 1, "fdc46a3e5e311304fcd9756819b4357baa8312c621bf7014ec6ffc83dd7e177b"),
        ("12-shark", 1, "f8196df3420d1eedcfdd6e29dffd11b447d6394c5edb55a2a20a34d8ec8ce897"),
    ],
    ("comic-kite.yaml", "openai", "127.0.0.1:8080"): [
        ("01-hill", 1, "99da9e7b82370b308d8d290540c5787c722ec23106f401476d696fbdc6e0d9b9"),
        ("02-launch", 1, "7d4a92cd545d5da4694b8e65d86aeb4339424958e78e6b8a0614f05d51b18822"),
        ("03-high", 1, "35633e499a4f260cdf06bedbe72d3e38f04e07e8537d396057126c32fcd4cb53"),
        ("04-tug", 1, "c0a99bd07cda7d3e73d1f62ea0f942f47833c25d3129d9626e844fc4d1255775"),
        ("05-snap", 1, "fa1cf1e4a23bfa96f4633569c149f6cb72e3113a08ced9afbd0c903d1c075683"),
        ("06-away", 1, "a5ce1cd1d04ac883f52d3555f0c3fc41be4ff0c9ece665dab727abc27e7bf6d0"),
        ("07-bikes", 1, "c0a73e2095f65a8fde35107aa0d2ff5746ff2bccb9040fcd67afcd92da1fb1a4"),
        ("08-market", 1, "8ffe0cfe37fe3a8ba6d661379e1a6b7b2e92f2e6454c7ee8cc5bab39eedb9e2b"),
        ("09-stairs", 1, "e790129daf7feb260866e827ae8c29800a9e3271d7627779906fa15ce741a4a7"),
        ("10-rail", 1, "2be057124b74017e1a124d36b0ab2c2c0d5f48e53177d1bf47178d61fd281480"),
        ("11-view", 1, "754158aeed515b678ae658ac4d945cd97979ab45e186f13f23df4afde8f9f47e"),
        ("12-shark", 1, "43484c9be5d87d2bb1f4366cf88b006b743b04707fda2e9f1aeb4ae836d5e3c4"),
    ],
    ("consistent-character.yaml", "draft", None): [
        ("mira", 1, "c6641a7b9c861afadf895494f8e102351a42f4025a110b0807d9b39b611861a0"),
        ("01-dawn", 1, "a03f6a0f18766bd6553678534ade75cfb7188cd5fdb4f01af88a838c2b2f02ec"),
        ("02-lamp", 1, "1e48d5fa4b2d6ccd112363eff305ac691e7af05b140a7363d6e66e7d86a5a3b6"),
        ("03-storm", 1, "30fb50666526263d53d31c8d8d4c3cb64e2ff631c3fc304880ca22da0c47d04a"),
        ("04-boat", 1, "01ce08d2599bcba7b0654ef9ee5bc571df1e57d69ca417b6d5bde4c636bb0eda"),
        ("05-rescue", 1, "8d94b56c8b8a7fd157de4b5097149ffc26231a21fef35fd0b48db566bc2b4b09"),
        ("06-tea", 1, "a053d290b83278429207082b3ee903ad7cd40d4e7937bccd14ace9bea61c4f14"),
    ],
    ("consistent-character.yaml", "openai", "api.openai.com"): [
        ("mira", 1, "6a531cb37e1ac0f0f4990ea05e47274b70019942f4905ea1ca6bd092213cfca8"),
        ("01-dawn", 1, "03b151b39464fdc338d406dee3b5b3721812b278a0f9d2f7a18402e11a90ea7b"),
        ("02-lamp", 1, "c8c22a1e98b3aecd445ffbcc4460059c47d202c6e2007f1ffd5b6ac4b9ecc510"),
        ("03-storm", 1, "b720c3690763540ee918e3cfcb3f441d0085de887937051c769116728ad51b77"),
        ("04-boat", 1, "f3d445b3f7e2c17ff737960818474b27149bf8504e770d1a4efa71010911ca67"),
        ("05-rescue", 1, "962a90882c0e17a38620a7d87b13b26c8048de409c7460ab1cca1ecd07fa665a"),
        ("06-tea", 1, "f9b9405bd3ce5ce423c4410a5225732130d4f8c7ebe6122c7553e966c7cb96c5"),
    ],
    ("consistent-character.yaml", "openai", "127.0.0.1:8080"): [
        ("mira", 1, "2cc4e6b09cb7556aa8dd002e234acdfd043dd75153ebdf425cfc96c01b732e90"),
        ("01-dawn", 1, "0bc9cd2083aa6b234de4448df0605e5c8107437b49c92b2a1385ac30604c396d"),
        ("02-lamp", 1, "a497e5dfabb67f30077be0ddbb65b8a1e79245c3447d18db1337d608cd271041"),
        ("03-storm", 1, "14052a2d94a6a28fd4ea15fd9dd43d4cdde5501cff1ff57c06579ef60efbf1d0"),
        ("04-boat", 1, "7aba4fcfb53709a5c52ce3b0f4c911658c042c0bcd03abcee86911b84bd092aa"),
        ("05-rescue", 1, "8d13294f88ddc7080adbb4802f599d15e53c3f6072dfee5ade6675be3e2b9684"),
        ("06-tea", 1, "071bd75018a45b37333bab15750a245fc216786e3e057ccaceca7c23f2ba28d1"),
    ],
    ("flying-car.yaml", "draft", None): [
        ("01-car", 1, "7b13f82489d282895a4cc51f907992f129433c5ec41db5e444294383f5e487d7"),
        ("01-car", 2, "ea7ab595fd0822c93a6c2f7313e0963cfe12e64a515b6ef720c2f9f09677c0fb"),
        ("01-car", 3, "4fbac7fae8d968a6695b069b8a7b441473b63042d27c4308095a1cda7ba9e888"),
    ],
    ("flying-car.yaml", "openai", "api.openai.com"): [
        ("01-car", 1, "0eb7664d0fa61a1e2823b5cc359db667d5db42a58814df6ea6668e71f889c8aa"),
        ("01-car", 2, "e400507e3f619664503f36a002db15b76ce83bb88efc511f79b1394b800c8b7a"),
        ("01-car", 3, "a73c540085b2ba33d53fc8365e908afd77f23dda88f5e31cac4c7fe18f3cca59"),
    ],
    ("flying-car.yaml", "openai", "127.0.0.1:8080"): [
        ("01-car", 1, "38ad502314d72bdbf705790830f1560cd22042ff468ea0c060f2fed6dcbb1ca4"),
        ("01-car", 2, "2b16af69d0b8062c67c8fc00ee8f2a0360456b3b33ee6c2973988df2ebe7c7df"),
        ("01-car", 3, "222ee4ffb60eeceb3741be580a80b30efecb5b056ca4aaf1cdf561e1ee033d4e"),
    ],
    ("night-market.yaml", "draft", None): [
        ("01-gate", 1, "cfa6de8f31a14ab07ed4b5290a9ce2d7bb38bfca7e20cbe7177d9fbd8e79dbb1"),
        ("02-market", 1, "fe09002abc1d9ef7e90e0b82e05a14a52fc0fa9e9fa1eb075af9643e7b3b7317"),
        ("02-market", 2, "f9918e6f9f88897a2bac6fe5a3ad31c32cc4daa30f3af555b69b31d37730897e"),
        ("02-market", 3, "a465e461f37211f590fc8cdd2464935b63470e422ba888edd1584de432a10507"),
        ("03-stall", 1, "82cf73bb66dc8e4f1d9c7ac9ac8f5aeaf4ed2881d60720f43e882f17dd121cd5"),
        ("04-rain", 1, "560d167412e639f46fbb2249549e395820371362932d975e96ae9fa1965a0402"),
        ("05", 1, "4938e4d185cab6b6ecafd6d30eaf11e7705c9f90b497b25da19b8b7721df04a1"),
        ("06-end", 1, "35452bd9aee1f5f44354751693b532144ba8b92ca76e3e37b8448b4871ce7794"),
    ],
    ("night-market.yaml", "openai", 'api.openai.com'): [
        ("01-gate", 1, "bd35ba7aa57c77f402e827a01d71475f284fd0a5d0901d855886c06e45494651"),
        ("02-market", 1, "9297db6ef8552267fa401d040742c99e9767bf3b975a4d5ceb9f55d547982c8b"),
        ("02-market", 2, "6cb0633117f7ef715d8921fa209be2dbc94c62a89120ec68d01611b2bc101993"),
        ("02-market", 3, "77a0ff02a99207669a1de56e2953933e7400ec21d7d7e55438315108ae05daa6"),
        ("03-stall", 1, "6e48cf2c7f318d2c5b063eacfcc21643b8473f158b4f79c0b79cf13d3f7126f7"),
        ("04-rain", 1, "0a9ba65167dcce6920941f3ac469cb0bfa20971576f01615e654b680b11f08ea"),
        ("05", 1, "cf4ee727a7fe16a555fae44527bc35f7dfaeb6bd11462f2a4defaeead99aa6f1"),
        ("06-end", 1, "4a6e19c638a653565d4657367da7d7c235e7a0caef86f43f50b73d2838a20588"),
    ],
    ("night-market.yaml", "openai", '127.0.0.1:8080'): [
        ("01-gate", 1, "2c6d7fbfef7d036136229c55bb8f8d5e6de1291336786eeabc96716f90aea3f6"),
        ("02-market", 1, "d790f0ea3316a60d5351995bb0cc6b5e0c5e3be84d8ed3334e4ce2fa11127133"),
        ("02-market", 2, "d90d5e15dcb58433a5a86ddad15fe96a198e0aa3f5b14ec39922e500dc04b4d6"),
        ("02-market", 3, "cb30ffd76dd91ca07d8e8f99222cb33a37826063a81b1ae0d90017a512eaec22"),
        ("03-stall", 1, "cc99fc6831eb5271bdb1115b6608ad6dead7fc4874a881e9b0ca2819e4bef24d"),
        ("04-rain", 1, "e18a4013bfd5701abf1738b3225c9047e71bf1e7edb0540e02547d683cb6f8db"),
        ("05", 1, "c4c7669b5524ba92b848c97bc244a8aef88ac0f68bed5e62b8361aff83f16653"),
        ("06-end", 1, "5333f74f0524290b3096248fb12e3efe1b6e04c1c613a5e3f2470e3252e2c33a"),
    ],
    ("robot-dog-progressive.yaml", "draft", None): [
        ("01-lab", 1, "be11d2da136bd7f1d2041a2df909d1f82874865b818eb12d93cc7fdfcf6dc937"),
        ("02-door", 1, "57ee60094ad9e054c2bbcf44a4eceeded4c149af601217a2aa8f98c339301709"),
        ("03-street", 1, "d3ef4ae19a3df15f162bd9ac7d6dad9e4246d479aa7c8edd6e8397c975d6e329"),
        ("04-park", 1, "1bd468789184cb067d577e3a502a25f67c139be7ba6160d48ec9d7836f001204"),
        ("05-sunset", 1, "78ff55f0da8971ed2243c78d3e058814227de0625022da96e6b8423eeac9afe9"),
    ],
    ("robot-dog-progressive.yaml", "openai", "api.openai.com"): [
        ("01-lab", 1, "3e2b817ea614f6e2694f02b7bd3d09b0095bbbafc686feca38f1610c0e9ebbf2"),
        ("02-door", 1, "647989bd59dd711b17c74ff1e296306f140042dd0b6ad8c0132e83d430945f5e"),
        ("03-street", 1, "8d9f64a9921a59a7dd7080a0c456ea5cd3c472f208091d4f0390480fcb28b956"),
        ("04-park", 1, "b5d77446e192273b655006f593925d0528a5617aead802ee744b032d690eedd8"),
        ("05-sunset", 1, "d1e80ce458a8851b4cc17105aad7e6b7adfe049e29a8239934b3173d344ebdfd"),
    ],
    ("robot-dog-progressive.yaml", "openai", "127.0.0.1:8080"): [
        ("01-lab", 1, "95ef99382702efbdbf42e79855a138df77463e690236cafc8ddc2fb010bd2627"),
        ("02-door", 1, "8eeab0157a48f37627ba5cf60d3a8af5436661553473046690ef525fdb44dde2"),
        ("03-street", 1, "c6ea0140257814e22387c537798f58e0167bd8cba1e56c09ebd69d05670d4c93"),
        ("04-park", 1, "307219fc5911b9cbc3ed1f8b90ecbab4b905791e96f52120e6df83c71115dcde"),
        ("05-sunset", 1, "70da2756d15060c296ad5234f63d648ccee626051ba934fa8fa6347e6f34f8d6"),
    ],
    ("robot-dog.yaml", "draft", None): [
        ("01-lab", 1, "e3650d24e498228afece921c60e97694729533faf0d40c739f2e76032d84a885"),
        ("02-city", 1, "0183a8e745973bc4e103dec14938540ef85172d48dc1022893dd795f36dba4ab"),
        ("03-sunset", 1, "6e5dc6a981f0cb009ade4ef33b32bbec880a517d291a23f9ea1b525aacb035be"),
    ],
    ("robot-dog.yaml", "openai", "api.openai.com"): [
        ("01-lab", 1, "c0ed4de3210edc72aef7367dbf9f3e8f572e19d459669be4483504fb2d9da029"),
        ("02-city", 1, "631e4345c03c17c2000dbf6866db3e23526bbaad74184fad337d526dc398b34b"),
        ("03-sunset", 1, "a74cad1d5098ed9a63279dbb13cb7a863b15fe601a92cfca6319c563e408053d"),
    ],
    ("robot-dog.yaml", "openai", "127.0.0.1:8080"): [
        ("01-lab", 1, "78e351f5a4d0a746eb7ac5d165a819f816afddf908290a27487f22ec7f2c700f"),
        ("02-city", 1, "13713f5be4cbeb903dfcc3699205ce88667587269cee3fc12cf931ed281d1468"),
        ("03-sunset", 1, "f18ff5af713b82cfbbe75b1ef3cfddc573012efe9d1e5b8fd72f6c7d38db1852"),
    ],
    # the local backend's example stories, as the draft previews them (local keys hash the weights)
    ("local-edit.yaml", "draft", None): [
        ("01-day", 1, "852cfd7c16c6b8435e169e0146d863b778dc5ce6419bdd8084a54a790b3b0313"),
        ("02-winter", 1, "d08574e3e8f03e8485c8d58377a1865a7c7b00422f0f3a9629aece77ab855a56"),
        ("03-aurora", 1, "c0028e0850e3ac993568a458e19c7ba6f3662f1c3baf09e9cae5952227d3865d"),
    ],
    ("local-generate.yaml", "draft", None): [
        ("01-storm", 1, "6231409e263eb78a539d759fc50ba3c04366c324621b734d90f718bcc09e218f"),
        ("01-storm", 2, "baf803de8b60794739fef1b9358c970381d4e1f4011ceb3ed1471d367e1f4da2"),
        ("01-storm", 3, "5ae8a19fd5635ac4bc31c24b4f2ed1f3871bae34b8993a6c9e3199e29829af70"),
        ("02-stairs", 1, "b400875500c17e022ea749514ec267e91d9625fee0a30b0f22794f8199ef50f7"),
    ],
    ("local-outpaint.yaml", "draft", None): [
        ("01-rock", 1, "88b29b736e1b63be1836d5b437540e4a5204a4c9d4830c906230c65365256c8b"),
        ("02-coast", 1, "dcb150a3cfbf8141c0484c5a553ea10b0ce5b15d5169e1bddf2e29ff36a8613a"),
    ],
    ("local-references.yaml", "draft", None): [
        ("mira", 1, "4b75f4c23ff64d3862701770e8d7102c209aa4a8ddeda73e235740b977681cc1"),
        ("01-dawn", 1, "a63080deb4c020f7639f659bdb267032cce58180e47938477e2db9ab9618dc6e"),
        ("02-storm", 1, "d216766b33e91dd43570de59ef5e6ba07febf2bee32028e60c882a688e8ae80d"),
        ("03-night", 1, "87a5990e8307e5068fff89cf3a8647b2bc727fe9fc28a509fc34bd84083d3019"),
    ],
    ("local-tiny.yaml", "draft", None): [
        ("01-lab", 1, "5e009c26dc89cb16f52ee4a3d104a969aa65459c4fcc5ea037830166f7fd7f63"),
        ("01-lab", 2, "25f0276dc76a86798a6f6aff832d2867c83b16622a127fec0de75fd9cc282afc"),
        ("02-night", 1, "f2937307a1eba2a09d4182c7239eb2f69d85b933e74238e3bd1bdd2479369982"),
        ("03-sky", 1, "18be7e837f62968d512e11e9baed2beb6f84d214ae5e8ca350a00c1389bb1e8f"),
        ("04-wider", 1, "b695f34e51ccad9adee9c7f6c4e96897c950a599807039831b52e611a8787ae3"),
        ("05-again", 1, "8217937eeb8be3b4fecdc3045b1fe6a379869671ddff690a56f7cf05f8fea8c0"),
        ("06-walk", 1, "7cf7b6c3d550e616f07324c538c4465ba5aec5ce4d1acabb9aff5f689572259d"),
    ],
    ("local-variation.yaml", "draft", None): [
        ("01-keeper", 1, "76181ec7f397c3c4c550534f87d8027b3a41fa994aa854fb6e1141c94fe7eca0"),
        ("02-again", 1, "dfea42854fcccdd74c1921a6b6daba57f5b0cdd7c5127bbdb2f703473c694ecd"),
        ("02-again", 2, "a95ea01274b93124c8cd590dce3594b6c6ac8a657dbdcc56cd1cb25e6397ca0d"),
        ("02-again", 3, "a6ce0b30364adaab346e2039a4673b2b4ef98fc549984ead6de5d5543c55e4dd"),
    ],
}


@pytest.mark.parametrize(("name", "backend", "host", "ident", "take", "key"), REQUEST_KEYS)
def test_request_keys_are_pinned(name: str, backend: str, host: str | None, ident: str, take: int, key: str) -> None:
    assert request_key(backend, host, REQUESTS[name], ident, take) == key


def test_option_order_is_not_part_of_the_key() -> None:
    from dataclasses import replace

    edit = REQUESTS["edit"]
    swapped = replace(edit, options={"background": "opaque", "output_format": "webp"})
    assert request_key("openai", "api.openai.com", swapped, "night", 3) == REQUEST_KEYS[4][5]


@pytest.mark.parametrize(("env", "expected"), HOSTS)
def test_backend_identity_is_pinned(env: dict[str, str], expected: tuple[str, str | None]) -> None:
    assert identity(env) == expected


@pytest.mark.parametrize("case", list(STORY_KEYS), ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}")
def test_story_keys_are_pinned(case: tuple[str, str, str | None], tmp_path: Path) -> None:
    story, backend, host = case
    assert story_keys(PIPELINES / story, backend, host, tmp_path) == STORY_KEYS[case]


def test_every_example_story_is_pinned() -> None:
    assert {s for s, _, _ in STORY_KEYS} == {p.name for p in PIPELINES.glob("*.yaml")}
