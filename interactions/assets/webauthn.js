// Passkeys and security keys on our pages: the only script we serve (CSP script-src 'self').
// A page has one form marked data-webauthn="authenticate" (sign-in) or "register" (account), with
// data-options (where to POST for options) and action (where to POST the result). On submit:
// fetch the options, ask the browser (navigator.credentials), then post the result to action:
// as JSON, following the redirect the server returns; or, with data-verify="form", as the form's
// `response` field in an ordinary form submission, so the server can answer with a page.
// Without this script the form posts plainly and the server answers with a page that says
// JavaScript is needed.
// The login page has a form marked data-passkey-login instead (passwordless sign-in): the script
// shows its "Sign in with a passkey" button, starts a conditional request so the browser offers
// passkeys in the login field's autofill, and submits the chosen passkey's answer as the form's
// `response` field. It also tells the password form whether this device has a passkey built in
// (passkey_capable), so the server may offer to create one after the password.
(function () {
  'use strict'

  const passkeyForm = document.querySelector('form[data-passkey-login]')
  if (passkeyForm) passkeyLogin(passkeyForm)
  const capableField = document.querySelector('input[name=passkey_capable]')
  if (capableField && window.PublicKeyCredential && typeof PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable === 'function') {
    PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable().then(function (yes) { if (yes) capableField.value = '1' }, function () {})
  }

  const form = document.querySelector('form[data-webauthn]')
  if (!form) return
  const mode = form.getAttribute('data-webauthn') === 'register' ? 'register' : 'authenticate'
  const optionsUrl = form.getAttribute('data-options')
  const verifyUrl = form.getAttribute('action')
  const submitForm = form.getAttribute('data-verify') === 'form'
  const button = form.querySelector('button[type=submit]')
  const errorBox = document.getElementById('webauthn-error')
  const statusBox = document.getElementById('webauthn-status')

  function showError(message) {
    if (statusBox) statusBox.textContent = ''
    if (!errorBox) return
    errorBox.textContent = message
    errorBox.hidden = false
  }
  function showStatus(message) {
    if (statusBox) statusBox.textContent = message
  }

  if (!window.PublicKeyCredential || !navigator.credentials) {
    showError(mode === 'register'
      ? 'This browser cannot use passkeys or security keys.'
      : 'This browser cannot use security keys or passkeys. Use another method.')
    if (button) button.disabled = true
    return
  }

  // base64url <-> ArrayBuffer (the JSON forms of WebAuthn carry binary as base64url).
  function toBuffer(value) {
    const base64 = value.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((value.length + 3) % 4)
    const binary = atob(base64)
    const bytes = new Uint8Array(binary.length)
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
    return bytes.buffer
  }
  function toBase64url(buffer) {
    const bytes = new Uint8Array(buffer)
    let binary = ''
    for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i])
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
  }
  function descriptors(list) {
    return (list || []).map(function (d) { return Object.assign({}, d, { id: toBuffer(d.id) }) })
  }

  function creationOptions(json) {
    if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function') return PublicKeyCredential.parseCreationOptionsFromJSON(json)
    return Object.assign({}, json, {
      challenge: toBuffer(json.challenge),
      user: Object.assign({}, json.user, { id: toBuffer(json.user.id) }),
      excludeCredentials: descriptors(json.excludeCredentials),
    })
  }
  function requestOptions(json) {
    if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function') return PublicKeyCredential.parseRequestOptionsFromJSON(json)
    return Object.assign({}, json, { challenge: toBuffer(json.challenge), allowCredentials: descriptors(json.allowCredentials) })
  }

  function credentialJSON(credential) {
    if (typeof credential.toJSON === 'function') return credential.toJSON()
    const r = credential.response
    const response = { clientDataJSON: toBase64url(r.clientDataJSON) }
    if (r.attestationObject) {
      response.attestationObject = toBase64url(r.attestationObject)
      if (typeof r.getTransports === 'function') response.transports = r.getTransports()
    } else {
      response.authenticatorData = toBase64url(r.authenticatorData)
      response.signature = toBase64url(r.signature)
      if (r.userHandle) response.userHandle = toBase64url(r.userHandle)
    }
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: response,
    }
  }

  /** POSTs JSON; resolves to { ok, status, body } where body is the parsed JSON or null. */
  async function post(url, data) {
    const res = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(data),
    })
    const type = res.headers.get('content-type') || ''
    const body = type.indexOf('application/json') === 0 ? await res.json() : null
    return { ok: res.ok, status: res.status, body: body }
  }

  function follow(url) {
    const target = new URL(url, window.location.href)
    // Only our own pages (the provider's resume endpoint, the account area).
    if (target.origin !== window.location.origin) throw new Error('cross-origin redirect refused')
    window.location.assign(target.href)
  }

  function failureMessage(res) {
    if (res.body && typeof res.body.error === 'string') return res.body.error
    if (res.status === 403) return 'This page has expired. Reload it and try again.'
    if (res.status === 400) return 'This page has expired or the request was not accepted. Reload it and try again.'
    return 'Something went wrong. Try again in a moment.'
  }

  function browserMessage(err) {
    switch (err && err.name) {
      case 'NotAllowedError':
        return mode === 'register'
          ? 'Nothing was added: the request was cancelled or timed out. Try again.'
          : 'The request was cancelled or timed out. Try again, or use another method.'
      case 'InvalidStateError':
        return mode === 'register'
          ? 'This security key or passkey is already registered to your account.'
          : 'Your security key or passkey could not be used. Try again, or use another method.'
      case 'SecurityError':
        return 'Your browser did not allow this site to use security keys or passkeys.'
      case 'AbortError':
        return 'The request was cancelled. Try again.'
      default:
        return 'Your security key or passkey could not be used. Try again.'
    }
  }

  let busy = false
  form.addEventListener('submit', async function (event) {
    event.preventDefault()
    if (busy) return
    busy = true
    if (button) button.disabled = true
    if (errorBox) errorBox.hidden = true
    const csrf = form.elements.namedItem('csrf').value
    try {
      const options = await post(optionsUrl, { csrf: csrf })
      if (!options.ok || !options.body) {
        if (options.body && typeof options.body.redirect === 'string') return follow(options.body.redirect)
        return showError(failureMessage(options))
      }
      showStatus(mode === 'register' ? 'Follow your browser’s instructions to add your passkey or security key…' : 'Waiting for your security key or passkey…')
      let credential
      try {
        credential = mode === 'register'
          ? await navigator.credentials.create({ publicKey: creationOptions(options.body) })
          : await navigator.credentials.get({ publicKey: requestOptions(options.body) })
      } catch (err) {
        return showError(browserMessage(err))
      }
      if (!credential) return showError(browserMessage(null))
      showStatus('Checking…')
      if (submitForm) {
        form.elements.namedItem('response').value = JSON.stringify(credentialJSON(credential))
        // submit() does not fire this listener again; the server answers with the next page.
        return form.submit()
      }
      const payload = { csrf: csrf, response: credentialJSON(credential) }
      const label = form.elements.namedItem('label')
      if (label) payload.label = label.value
      const result = await post(verifyUrl, payload)
      if (result.body && typeof result.body.redirect === 'string') return follow(result.body.redirect)
      showError(failureMessage(result))
    } catch (err) {
      showError('Something went wrong. Check your connection and try again.')
    } finally {
      busy = false
      if (button) button.disabled = false
    }
  })

  /** Passwordless sign-in on the login page (see the top of this file). */
  function passkeyLogin(loginForm) {
    if (!window.PublicKeyCredential || !navigator.credentials) return
    const box = document.getElementById('passkey-signin')
    const errorBox = document.getElementById('passkey-error')
    const csrf = loginForm.elements.namedItem('csrf').value
    if (box) box.hidden = false
    // One request at a time: the button's replaces the autofill's (and the server's challenge with it).
    let current = null

    function fail(message) {
      if (!errorBox) return
      errorBox.textContent = message
      errorBox.hidden = false
    }

    async function run(conditional) {
      if (current) current.abort()
      const controller = new AbortController()
      current = controller
      const options = await post(loginForm.getAttribute('data-options'), { csrf: csrf })
      if (controller.signal.aborted) return
      if (!options.ok || !options.body) {
        if (options.body && typeof options.body.redirect === 'string') return follow(options.body.redirect)
        if (!conditional) fail(failureMessage(options))
        return
      }
      let credential
      try {
        const request = { publicKey: requestOptions(options.body), signal: controller.signal }
        if (conditional) request.mediation = 'conditional'
        credential = await navigator.credentials.get(request)
      } catch (err) {
        // Aborted for the button's request, or the autofill simply not used: nothing to say.
        if (!conditional && !controller.signal.aborted) fail(loginForm.getAttribute('data-cancelled'))
        return
      }
      if (!credential || controller.signal.aborted) return
      loginForm.elements.namedItem('response').value = JSON.stringify(credentialJSON(credential))
      loginForm.submit()
    }

    loginForm.addEventListener('submit', function (event) {
      event.preventDefault()
      if (errorBox) errorBox.hidden = true
      run(false).catch(function () { fail(loginForm.getAttribute('data-failed')) })
    })
    // Not again on the page that refused a passkey: the browser would offer the same one at once.
    if (loginForm.getAttribute('data-autofill') !== 'off' && typeof PublicKeyCredential.isConditionalMediationAvailable === 'function') {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (yes) {
        if (yes && !current) return run(true)
      }).catch(function () {})
    }
  }
})()
