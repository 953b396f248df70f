"""Shared networks: the critic ensemble is n independent critics evaluated as one batched network."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offrl.algos.networks import Critic, CriticEnsemble


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_critic_ensemble_equals_its_members_applied_one_by_one(dtype):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    obs, act = jax.random.normal(k1, (5, 4)), jax.random.normal(k2, (5, 2))
    ens = CriticEnsemble((8, 8), 3, dtype=dtype)
    params = ens.init(k3, obs, act)["params"]
    out = ens.apply({"params": params}, obs, act)
    assert out.shape == (3, 5) and out.dtype == jnp.float32
    member = Critic((8, 8), dtype=dtype)

    def member_q(m, a):
        return member.apply({"params": jax.tree_util.tree_map(lambda x: x[m], params["VmapCritic_0"])}, obs, a)

    refs = [member_q(m, act) for m in range(3)]
    np.testing.assert_allclose(out, np.stack(refs), rtol=1e-6, atol=1e-6)
    assert not np.allclose(refs[0], refs[1])  # independently initialised members

    # the inputs reach every member: their gradient sums the members' gradients
    g = jax.grad(lambda a: ens.apply({"params": params}, obs, a).sum())(act)
    g_ref = sum(jax.grad(lambda a, m=m: member_q(m, a).sum())(act) for m in range(3))
    tol = {"rtol": 1e-2, "atol": 1e-3} if dtype == jnp.bfloat16 else {"rtol": 1e-5, "atol": 1e-6}
    np.testing.assert_allclose(g, g_ref, **tol)
