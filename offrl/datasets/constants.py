"""Published constants of the dataset sources, kept as data (no dependency on d4rl or neorl2).

Copied from d4rl/infos.py (REF_MIN_SCORE / REF_MAX_SCORE, URLs) and polixir/NeoRL2
(neorl2/envs/base.py, envs/info.py); see docs/datasets.md for provenance.
"""

from __future__ import annotations

D4RL_BASE_URL = "http://rail.eecs.berkeley.edu/datasets/offline_rl/"

# env family -> (ref_min, ref_max); every dataset variant of a family shares its family's values
# (v1/v2 locomotion equal the family's random-v0 entry; Adroit v1 equal the human-v0 entry).
D4RL_REF_SCORES: dict[str, tuple[float, float]] = {
    "halfcheetah": (-280.178953, 12135.0),
    "hopper": (-20.272305, 3234.3),
    "walker2d": (1.629008, 4592.3),
    "ant": (-325.6, 3879.7),
    "antmaze": (0.0, 1.0),
    "kitchen": (0.0, 4.0),
    "pen": (96.262799, 3076.8331017826877),
    "hammer": (-274.856578, 12794.134825156867),
    "door": (-56.512833, 2880.5693087298737),
    "relocate": (-6.425911, 4233.877797728884),
}

# family -> (obs_dim, act_dim)
D4RL_DIMS: dict[str, tuple[int, int]] = {
    "hopper": (11, 3), "halfcheetah": (17, 6), "walker2d": (17, 6), "ant": (111, 8),
    "antmaze": (29, 8), "kitchen": (60, 9),
    "pen": (45, 24), "hammer": (46, 26), "door": (39, 28), "relocate": (39, 30),
}

# Closest Gymnasium environment of each family (D4RL's own gym envs need mujoco-py and gym<0.25).
# Gymnasium's Ant-v5 observation (105 by default) differs from D4RL's 111-dim ant observation.
D4RL_GYMNASIUM_ENV: dict[str, str] = {
    "hopper": "Hopper-v5", "halfcheetah": "HalfCheetah-v5", "walker2d": "Walker2d-v5", "ant": "Ant-v5",
    "kitchen": "FrankaKitchen-v1", "pen": "AdroitHandPen-v1", "hammer": "AdroitHandHammer-v1",
    "door": "AdroitHandDoor-v1", "relocate": "AdroitHandRelocate-v1",
}

LOCOMOTION_ENVS = ("halfcheetah", "hopper", "walker2d", "ant")
LOCOMOTION_LEVELS = ("random", "medium", "expert", "medium-replay", "full-replay", "medium-expert")

# antmaze v2 dataset -> (file stem, max_episode_steps)
ANTMAZE_V2: dict[str, tuple[str, int]] = {
    "umaze": ("Ant_maze_u-maze_noisy_multistart_False_multigoal_False_sparse_fixed", 700),
    "umaze-diverse": ("Ant_maze_u-maze_noisy_multistart_True_multigoal_True_sparse_fixed", 700),
    "medium-play": ("Ant_maze_big-maze_noisy_multistart_True_multigoal_False_sparse_fixed", 1000),
    "medium-diverse": ("Ant_maze_big-maze_noisy_multistart_True_multigoal_True_sparse_fixed", 1000),
    "large-play": ("Ant_maze_hardest-maze_noisy_multistart_True_multigoal_False_sparse_fixed", 1000),
    "large-diverse": ("Ant_maze_hardest-maze_noisy_multistart_True_multigoal_True_sparse_fixed", 1000),
}
ANTMAZE_GYMNASIUM_ENV = {"umaze": "AntMaze_UMaze-v4", "medium": "AntMaze_Medium-v4", "large": "AntMaze_Large-v4"}

KITCHEN_V0: dict[str, str] = {
    "complete": "kitchen/mini_kitchen_microwave_kettle_light_slider-v0.hdf5",
    "partial": "kitchen/kitchen_microwave_kettle_light_slider-v0.hdf5",
    "mixed": "kitchen/kitchen_microwave_kettle_bottomburner_light-v0.hdf5",
}

ADROIT_ENVS = ("pen", "hammer", "door", "relocate")
ADROIT_LEVELS = ("human", "cloned", "expert")
ADROIT_MAX_STEPS = {"pen": 100, "hammer": 200, "door": 200, "relocate": 200}

# NeoRL-2: task -> facts. Normalised score = 100 * (R - score_min) / (score_max - score_min).
# default_traj_num: the repo truncates RocketRecovery/Fusion train data to the first N trajectories
# (val keeps int(N / 4)); None keeps everything.
NEORL2_BASE_URL = "http://datasets.polixir.site/neorl2/"
NEORL2_TASKS: dict[str, dict] = {
    "Pipeline": dict(obs_dim=52, act_dim=1, horizon=1000, has_done=False, score_min=-296.0, score_max=751.0,
                     train_md5="59902b333be6edb9252acfc2302cc1ed", val_md5="c502f529db1de55ebf37d63e1defca56",
                     data_score=69.246, default_traj_num=None),
    "Simglucose": dict(obs_dim=31, act_dim=1, horizon=480, has_done=True, score_min=9.75, score_max=475.0,
                       train_md5="6195a3634379f576958440b7e0c8fc53", val_md5="6df907556cbc96002757f6d652be9d92",
                       data_score=73.875, default_traj_num=None),
    "RocketRecovery": dict(obs_dim=7, act_dim=2, horizon=500, has_done=True, score_min=-176.0, score_max=208.0,
                           train_md5="b1a7bf1ec16cfef390b6b1cec2b13ddc", val_md5="0b25bd998e92b4f808f8ee5207ce06dd",
                           data_score=75.273, default_traj_num=100),
    "RandomFrictionHopper": dict(obs_dim=13, act_dim=3, horizon=1000, has_done=True, score_min=-3.0,
                                 score_max=503.0, train_md5="3ef2c41483689729d3b5a3aef3b7b8f7",
                                 val_md5="2628f354222de37803451c63e84a1269", data_score=28.726,
                                 default_traj_num=None),
    "DMSD": dict(obs_dim=6, act_dim=2, horizon=100, has_done=False, score_min=30.60, score_max=849.51,
                 train_md5="88dfa39aa18904e809056b51c2e6319b", val_md5="be6c39c0e73c17029206e714068f26b7",
                 data_score=56.643, default_traj_num=None),
    "Fusion": dict(obs_dim=15, act_dim=6, horizon=100, has_done=False, score_min=-107.601, score_max=98.05,
                   train_md5="98979f97e0b59dd46bbb9237176a68ab", val_md5="9baa5556fac98b86ab9b58040da17d86",
                   data_score=48.749, default_traj_num=20),
    "SafetyHalfCheetah": dict(obs_dim=18, act_dim=6, horizon=1000, has_done=False, score_min=-283.0,
                              score_max=2507.0, train_md5="c35efec4a25fb45837487ba00f74e1ed",
                              val_md5="da65ba51a4cc17370572da3c801d228b", data_score=73.559,
                              default_traj_num=None),
}

# D5RL (gs://d5rl_datasets, public over HTTPS): name -> (relative url, env id, format, max_episode_steps)
D5RL_BASE_URL = "https://storage.googleapis.com/d5rl_datasets/"
D5RL_DATASETS: dict[str, dict] = {
    "a1-interpolate-v0": dict(url="a1/a1_interpolate.zip", env_id="a1-interpolate-v0", format="d5rl-a1",
                              max_episode_steps=400),
    "a1-extrapolate-above-v0": dict(url="a1/a1_extrapolate_above.zip", env_id="a1-extrapolate-above-v0",
                                    format="d5rl-a1", max_episode_steps=400),
    "a1-hiking-v0": dict(url="a1/a1_hiking.zip", env_id="a1-hiking-v0", format="d5rl-a1", max_episode_steps=1000),
}
D5RL_KITCHEN_TASKS = {
    "indistribution": ("microwave", "kettle", "light switch", "slide cabinet"),
    "outofdistribution": ("microwave", "kettle", "bottom burner", "light switch"),
}

# Minari's published Gymnasium-MuJoCo datasets (ref scores live in each dataset's metadata.json).
MINARI_MUJOCO_ENVS = {"halfcheetah": "HalfCheetah-v5", "hopper": "Hopper-v5", "walker2d": "Walker2d-v5",
                      "ant": "Ant-v5"}
MINARI_MUJOCO_LEVELS = ("random", "simple", "medium", "expert")
